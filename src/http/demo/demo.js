// The demo page, on the browser client (sse-gateway-client, served at /client/index.js). The
// client does the connection work an application would otherwise write around EventSource:
// renewing the token before it expires, resuming from the last id after a drop, a drain, a
// refusal or a reload, and one stream for all tabs of this origin.
import { connect } from "/client/index.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const list = (text) => text.split(",").map((item) => item.trim()).filter(Boolean);

// window.demo is what the browser tests read; a person reads the page.
const demo = (window.demo = { events: [], controls: [], openedAt: [], reconnects: 0, opens: 0, state: "closed", lastEventId: "" });
let connection;

const CONTROL_EXPLANATIONS = {
  "gateway.refetch": "history gap: events were missed, the application should refetch its state",
  "gateway.draining": (data) => `the gateway is shutting down; reconnecting in about ${(data.retryMs / 1000).toFixed(1)} s`,
  "gateway.token-expired": "the token expired: the client fetches a fresh one and resumes",
};

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

/** The token the client asks for: a fresh one from the token endpoint, or the one typed in. */
async function subscriberToken() {
  if (params.get("sub") || params.get("tokenUrl")) $("sub-token").value = await fetchToken("subscriber");
  return $("sub-token").value.trim();
}

function start() {
  connection?.close();
  const topics = list($("sub-topics").value);
  connection = connect({
    url: "/events",
    token: subscriberToken,
    topics,
    share: params.get("share") || "auto",
    renewEarly: params.get("renewEarly") !== "false",
  });
  connection.onStatus((status, reason) => {
    if (status === "open") opened(topics);
    else if (status === "reconnecting" && demo.state === "open") show("connection", "disconnected", "connection lost; resuming from the last id");
    else if (status === "closed" && reason) show("connection", "closed", reason);
    setState(status, status === "reconnecting" && demo.lastEventId ? `from ${demo.lastEventId}` : "");
  });
  connection.on("*", (data, { id, type }) => (type.startsWith("gateway.") ? control(type, data, id) : received(type, data, id)));
}

function opened(topics) {
  demo.openedAt.push(Date.now());
  if (demo.opens++ === 0) show("connection", "connected", `stream open for your private events${topics.length ? ` and ${topics.join(", ")}` : ""}`);
  else {
    $("reconnects").textContent = String(++demo.reconnects);
    show("connection", "reconnected", demo.lastEventId ? `resumed after ${demo.lastEventId}` : "stream open again");
  }
}

function received(type, data, id) {
  demo.lastEventId = id;
  demo.events.push({ id, type, data });
  $("count").textContent = String(demo.events.length);
  $("last-id").textContent = id;
  // Every type is shown unless "Event types to show" names some.
  const shown = list($("sub-types").value);
  if (!shown.length || shown.includes(type)) show("event", type, JSON.stringify(data), id);
}

function control(type, data, id) {
  if (id) demo.lastEventId = id;
  demo.controls.push({ type, data, at: Date.now() });
  const explanation = CONTROL_EXPLANATIONS[type] ?? JSON.stringify(data);
  show("control", type, typeof explanation === "function" ? explanation(data) : explanation);
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

$("connect").onclick = start;
$("disconnect").onclick = () => {
  connection?.close();
  connection = undefined;
  show("connection", "closed", "disconnected by you");
};
$("publish").onclick = () => publish().catch((error) => showPublishResult("error", error.message));

// ?sub=alice&topics=news&types=greeting: fetch demo tokens and connect at once (development and tests).
if (params.get("topics")) $("sub-topics").value = params.get("topics");
if (params.get("types")) $("sub-types").value = params.get("types");
if (params.get("sub")) {
  $("who").textContent = `signed in as ${params.get("sub")}`;
  $("pub-users").value = params.get("sub");
  fetchToken("publisher")
    .then((publisher) => {
      $("pub-token").value = publisher;
      start();
    })
    .catch((error) => show("connection", "no tokens", error.message));
}
