// The demo client. Its connection handling is the pattern to copy:
// - EventSource reconnects by itself after a dropped connection or a drain and sends
//   Last-Event-ID, so the gateway resumes where the stream stopped;
// - it cannot change its URL or headers, so on "gateway.token-expired" (or when a reconnect is
//   refused and the browser gives up) the page gets a fresh token and opens a new EventSource that
//   resumes from the last id it saw (?lastEventId=...).
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const list = (text) => text.split(",").map((item) => item.trim()).filter(Boolean);

// window.demo is what the browser tests read; a person reads the page.
const demo = (window.demo = { events: [], controls: [], openedAt: [], reconnects: 0, opens: 0, state: "closed", lastEventId: "" });
let source;
let recovery;
let recoveryAttempts = 0;
/** Set when the gateway announced it is closing the stream (a drain): no "connection lost" then. */
let closeAnnounced = false;

function setState(state, detail = "") {
  demo.state = state;
  $("state").dataset.state = state;
  $("state").textContent = state;
  $("state-detail").textContent = detail;
}

/** One line of the log; `kind` is event, control or connection. Text only: nothing is parsed as HTML. */
function show(kind, label, text, id = "") {
  const item = document.createElement("li");
  item.className = kind;
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = new Date().toLocaleTimeString();
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = label;
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = text;
  item.append(time, badge, body);
  if (id) {
    const idNote = document.createElement("span");
    idNote.className = "id";
    idNote.textContent = id;
    item.append(idNote);
  }
  $("log").prepend(item);
  $("empty")?.remove();
}

// Where fresh tokens come from. In development the gateway serves /dev/token; an application
// points ?tokenUrl= at its own endpoint that returns { "token": "..." } for the signed-in user.
async function fetchToken(role) {
  const url = new URL(params.get("tokenUrl") || "/dev/token", location.href);
  url.searchParams.set("role", role);
  if (params.get("sub")) url.searchParams.set("sub", params.get("sub"));
  if (params.get("ttl")) url.searchParams.set("ttl", params.get("ttl"));
  const response = await fetch(url, { credentials: "include" });
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  return (await response.json()).token;
}

function connect() {
  source?.close();
  clearTimeout(recovery);
  const url = new URL("/events", location.href);
  url.searchParams.set("access_token", $("sub-token").value.trim());
  for (const topic of list($("sub-topics").value)) url.searchParams.append("topic", topic);
  if (demo.lastEventId) url.searchParams.set("lastEventId", demo.lastEventId);
  setState("connecting");
  const current = (source = new EventSource(url));
  current.onopen = () => {
    recoveryAttempts = 0;
    closeAnnounced = false;
    demo.openedAt.push(Date.now());
    if (demo.opens++ === 0) show("connection", "connected", `stream open${topicsNote()}`);
    else {
      $("reconnects").textContent = String(++demo.reconnects);
      show("connection", "reconnected", demo.lastEventId ? `resumed after ${demo.lastEventId}` : "stream open again");
    }
    setState("open");
  };
  current.onerror = () => {
    if (current !== source) return;
    if (current.readyState === EventSource.CLOSED) return recover("the gateway refused the stream");
    if (demo.state === "open" && !closeAnnounced) show("connection", "disconnected", "connection lost; the browser reconnects with Last-Event-ID");
    setState("reconnecting", demo.lastEventId ? `from ${demo.lastEventId}` : "");
  };
  current.onmessage = (message) => received("message", message);
  for (const type of list($("sub-types").value)) current.addEventListener(type, (message) => received(type, message));
  current.addEventListener("gateway.refetch", (message) => {
    control("gateway.refetch", message, "history gap: events were missed, the application should refetch its state");
  });
  current.addEventListener("gateway.draining", (message) => {
    closeAnnounced = true;
    const seconds = (JSON.parse(message.data).retryMs / 1000).toFixed(1);
    control("gateway.draining", message, `the gateway is shutting down; the browser reconnects in about ${seconds} s`);
  });
  current.addEventListener("gateway.token-expired", (message) => {
    control("gateway.token-expired", message, "the token expired: fetching a fresh one and resuming");
    current.close();
    renewAndConnect();
  });
}

function topicsNote() {
  const topics = list($("sub-topics").value);
  return topics.length ? ` for your private events and ${topics.join(", ")}` : " for your private events";
}

/** New token, new EventSource from the last id. */
async function renewAndConnect() {
  setState("connecting", "renewing the token");
  try {
    if (params.get("sub") || params.get("tokenUrl")) $("sub-token").value = await fetchToken("subscriber");
    connect();
  } catch (error) {
    recover(`could not renew the token: ${error.message}`);
  }
}

/** The browser gave up (an error answer, not a dropped connection): try again with backoff and a fresh token. */
function recover(reason) {
  source?.close();
  const delayMs = Math.min(30_000, 1000 * 2 ** recoveryAttempts++) * (0.5 + Math.random() / 2);
  show("connection", "retrying", `${reason}; new attempt in ${(delayMs / 1000).toFixed(1)} s`);
  setState("reconnecting", "waiting to retry");
  recovery = setTimeout(renewAndConnect, delayMs);
}

function received(type, message) {
  demo.lastEventId = message.lastEventId;
  demo.events.push({ id: message.lastEventId, type, data: JSON.parse(message.data) });
  $("count").textContent = String(demo.events.length);
  $("last-id").textContent = message.lastEventId;
  show("event", type, message.data, message.lastEventId);
}

function control(type, message, explanation) {
  if (message.lastEventId) demo.lastEventId = message.lastEventId;
  demo.controls.push({ type, data: JSON.parse(message.data), at: Date.now() });
  show("control", type, explanation);
}

async function publish() {
  const body = { type: $("pub-type").value.trim(), data: JSON.parse($("pub-data").value || "null") };
  const users = list($("pub-users").value);
  const topics = list($("pub-topics").value);
  if (users.length) body.users = users;
  if (topics.length) body.topics = topics;
  const response = await fetch("/publish", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${$("pub-token").value.trim()}` },
    body: JSON.stringify(body),
  });
  showPublishResult(response.status, await response.text());
}

function showPublishResult(status, text) {
  $("publish-result").dataset.ok = String(status === 202);
  $("publish-result").textContent = `${status} ${text}`;
}

$("connect").onclick = connect;
$("disconnect").onclick = () => {
  source?.close();
  clearTimeout(recovery);
  setState("closed");
  show("connection", "closed", "disconnected by you");
};
$("publish").onclick = () => publish().catch((error) => showPublishResult("error", error.message));

// ?sub=alice&topics=news&types=greeting: fetch demo tokens and connect at once (development and tests).
if (params.get("topics")) $("sub-topics").value = params.get("topics");
if (params.get("types")) $("sub-types").value = params.get("types");
if (params.get("sub")) {
  $("who").textContent = `signed in as ${params.get("sub")}`;
  $("pub-users").value = params.get("sub");
  Promise.all([fetchToken("subscriber"), fetchToken("publisher")])
    .then(([subscriber, publisher]) => {
      $("sub-token").value = subscriber;
      $("pub-token").value = publisher;
      connect();
    })
    .catch((error) => show("connection", "no tokens", error.message));
}
