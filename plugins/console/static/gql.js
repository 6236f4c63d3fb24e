// The console's only way to the server: its registered operations over POST
// /graphql, sent by hash (documentId) with the text as a fallback, and live
// events over graphql-transport-ws (implemented here; the protocol is small).

const TOKEN_KEY = "kehu.console.token";
let manifest = null;
let onSignedOut = () => {};

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) { value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY); },
};

export function whenSignedOut(callback) { onSignedOut = callback; }

export class GraphQLRequestError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

export async function loadManifest() {
  const response = await fetch("/console/operations.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`could not load the console's operations (HTTP ${response.status})`);
  manifest = await response.json();
  return manifest;
}

export function hasOperation(name) { return Boolean(manifest?.operations[name]); }
export function manifestValue(key) { return manifest?.[key]; }

async function post(body) {
  const headers = { "Content-Type": "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`the server answered HTTP ${response.status}`);
  }
}

// Requests in flight, on <html data-busy>: the browser tests wait for a screen
// to settle on it.
let inflight = 0;
function busy(delta) {
  inflight += delta;
  document.documentElement.dataset.busy = String(inflight > 0);
}

export async function request(name, variables = {}) {
  const operation = manifest?.operations[name];
  if (!operation) throw new Error(`operation ${name} is not available with the enabled plugins`);
  busy(1);
  let body;
  try {
    body = await post({ documentId: `sha256:${operation.sha256}`, operationName: name, variables });
    if (body.errors?.[0]?.extensions?.code === "PERSISTED_QUERY_NOT_FOUND") {
      body = await post({ query: operation.text, operationName: name, variables });
    }
  } finally {
    busy(-1);
  }
  if (body.errors?.length) {
    const error = new GraphQLRequestError(body.errors);
    if (error.code === "UNAUTHENTICATED" && name !== "Login") onSignedOut();
    if (!body.data) throw error;
    body.data.__errors = body.errors;
  }
  return body.data;
}

// A mutation's payload (its one root field: the object and ``userErrors``).
export async function mutate(name, variables = {}) {
  const data = await request(name, variables);
  return Object.values(data)[0];
}

// graphql-transport-ws: connection_init (with the token) -> connection_ack ->
// subscribe -> next* ; answers pings; reconnects with backoff.
export class LiveEvents {
  constructor({ topics, onEvent, onStatus }) {
    this.topics = topics;
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.attempt = 0;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    const operation = manifest.operations.Events;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/graphql`, "graphql-transport-ws");
    this.ws = ws;
    this.onStatus("connecting");
    const send = (message) => ws.send(JSON.stringify(message));
    ws.addEventListener("open", () => send({ type: "connection_init", payload: { authorization: `Bearer ${session.token}` } }));
    ws.addEventListener("message", (message) => {
      let data;
      try { data = JSON.parse(message.data); } catch { return; }
      if (data.type === "connection_ack") {
        this.attempt = 0;
        send({ id: "events", type: "subscribe",
               payload: { query: operation.text, operationName: "Events", variables: { topics: this.topics } } });
        this.onStatus("live");
      } else if (data.type === "ping") {
        send({ type: "pong" });
      } else if (data.type === "next" && data.payload?.data?.events) {
        this.onEvent(data.payload.data.events);
      } else if (data.type === "error") {
        this.onStatus("error");
      }
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.onStatus("offline");
      // 4401: the session ended (sign in again); 4403: refused; 4429: too many sockets.
      if (this.stopped || [4401, 4403, 4429].includes(event.code)) return;
      const delay = Math.min(30000, 500 * 2 ** this.attempt++);
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= 1) this.ws.close(1000);
    this.ws = null;
  }
}
