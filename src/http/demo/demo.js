// The demo client. Its token handling is the pattern to copy: EventSource cannot change its URL
// or headers, so on "gateway.token-expired" the page gets a fresh token and opens a new
// EventSource that resumes from the last event id it saw (?lastEventId=...).
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const list = (text) => text.split(",").map((item) => item.trim()).filter(Boolean);

// window.demo is what the browser tests read; a person reads the page.
const demo = (window.demo = { events: [], controls: [], reconnects: 0, opens: 0, state: "closed", lastEventId: "" });
let source;

function setState(state) {
  demo.state = state;
  $("state").dataset.state = state;
  $("state").textContent = state;
}

function show(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.innerHTML = `<span class="meta">${new Date().toLocaleTimeString()}</span> `;
  item.append(text);
  $("log").prepend(item);
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
  const url = new URL("/events", location.href);
  url.searchParams.set("access_token", $("sub-token").value.trim());
  for (const topic of list($("sub-topics").value)) url.searchParams.append("topic", topic);
  if (demo.lastEventId) url.searchParams.set("lastEventId", demo.lastEventId);
  setState("connecting");
  source = new EventSource(url);
  source.onopen = () => {
    if (demo.opens++ > 0) $("reconnects").textContent = String(++demo.reconnects);
    setState("open");
  };
  source.onerror = () => setState(source.readyState === EventSource.CLOSED ? "closed" : "connecting");
  source.onmessage = (message) => received("message", message);
  for (const type of list(params.get("types") || "greeting")) source.addEventListener(type, (message) => received(type, message));
  source.addEventListener("gateway.refetch", (message) => control("gateway.refetch", message));
  source.addEventListener("gateway.draining", (message) => control("gateway.draining", message));
  source.addEventListener("gateway.token-expired", async (message) => {
    control("gateway.token-expired", message);
    source.close();
    setState("connecting");
    try {
      $("sub-token").value = await fetchToken("subscriber");
      connect();
    } catch (error) {
      setState("closed");
      show("control", `could not renew the token: ${error.message}`);
    }
  });
}

function received(type, message) {
  demo.lastEventId = message.lastEventId;
  demo.events.push({ id: message.lastEventId, type, data: JSON.parse(message.data) });
  $("count").textContent = String(demo.events.length);
  $("last-id").textContent = message.lastEventId;
  show("event", `${type} #${message.lastEventId} ${message.data}`);
}

function control(type, message) {
  if (message.lastEventId) demo.lastEventId = message.lastEventId;
  demo.controls.push({ type, data: JSON.parse(message.data) });
  show("control", `${type} ${message.data}`);
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
  $("publish-result").textContent = `${response.status} ${await response.text()}`;
}

$("connect").onclick = connect;
$("disconnect").onclick = () => {
  source?.close();
  setState("closed");
};
$("publish").onclick = () => publish().catch((error) => ($("publish-result").textContent = error.message));

// ?sub=alice&topics=news: fetch demo tokens and connect at once (development and tests).
if (params.get("topics")) $("sub-topics").value = params.get("topics");
if (params.get("sub")) {
  $("pub-users").value = params.get("sub");
  Promise.all([fetchToken("subscriber"), fetchToken("publisher")])
    .then(([subscriber, publisher]) => {
      $("sub-token").value = subscriber;
      $("pub-token").value = publisher;
      connect();
    })
    .catch((error) => show("control", `no demo tokens: ${error.message}`));
}
