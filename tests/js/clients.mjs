// Real GraphQL clients against a live kehu server, as a frontend would use them:
// a query, a persisted query (automatic persisted queries: hash first, the text
// only when the server asks for it) and a subscription, from a page on ORIGIN.
//
//   node clients.mjs graphql-ws|apollo|urql http://127.0.0.1:PORT/graphql TOKEN ORIGIN
//
// Prints one JSON report; tests/test_frontend_clients.py checks it. Every HTTP
// request carries the page's Origin, and its answer must allow that origin (what
// a browser's CORS check would do); the WebSocket handshake carries it too.
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';

const [which, url, token, origin] = process.argv.slice(2);
const wsUrl = url.replace(/^http/, 'ws');
const report = { client: which, requests: [] };

const QUERY = 'query Viewer { me { email role } }';
const CUSTOMERS = 'query FirstCustomers { customers(first: 2) { totalCount edges { node { id name } } } }';
const EVENTS = 'subscription Events { events(topics: ["customer"]) { topic customerId } }';
const CREATE = 'mutation Create($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }';

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

// fetch as a browser page on `origin` would: the Origin header goes out, and a
// response that does not allow the origin is refused like CORS would refuse it.
async function browserFetch(input, init = {}) {
  const headers = new Headers(init.headers || {});
  headers.set('origin', origin);
  const response = await fetch(input, { ...init, headers });
  const body = typeof init.body === 'string' ? JSON.parse(init.body) : null;
  const params = new URL(typeof input === 'string' ? input : input.url).searchParams;
  report.requests.push({
    method: init.method || 'GET',
    status: response.status,
    contentType: response.headers.get('content-type'),
    sentQuery: Boolean(body ? body.query : params.get('query')),
    sentHash: Boolean(
      JSON.stringify(body ? body.extensions || {} : params.get('extensions') || '').includes('sha256Hash'),
    ),
  });
  if (response.headers.get('access-control-allow-origin') !== origin) {
    throw new TypeError(`CORS: ${origin} is not allowed (${response.headers.get('access-control-allow-origin')})`);
  }
  return response;
}

class OriginWebSocket extends WebSocket {
  constructor(address, protocols) {
    super(address, protocols, { origin });
  }
}

const wsClient = () =>
  createClient({
    url: wsUrl,
    webSocketImpl: OriginWebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });

async function createCustomer(name) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: CREATE, variables: { name } }),
  });
  const body = await response.json();
  return body.data.createCustomer.customer.id;
}

// Subscribes with `subscribe(onEvent)` and resolves with the first event. The
// server starts a subscription asynchronously (a persisted one after a miss and a
// retry), so a customer is created every 400 ms until an event arrives; each
// created id is reported, and the event must name one of them.
async function firstEvent(subscribe) {
  report.createdIds = [];
  return await new Promise((resolve, reject) => {
    let creating = null;
    const pending = [];
    const finish = (settle, value) => {
      clearTimeout(timer);
      clearInterval(creating);
      // The event may overtake the answer to the mutation that caused it.
      Promise.allSettled(pending).then(() => settle(value));
    };
    const timer = setTimeout(() => finish(reject, new Error('no event within 20s')), 20000);
    const stop = subscribe(
      (event) => {
        stop();
        finish(resolve, event);
      },
      (error) => finish(reject, error),
    );
    creating = setInterval(() => {
      pending.push(createCustomer(`live-${which}`).then((id) => report.createdIds.push(id)));
    }, 400);
  });
}

async function runGraphqlWs() {
  const client = wsClient();
  // Resolves with the operation's last result, or with { errors } for an `error` message.
  const one = async (payload) =>
    await new Promise((resolve, reject) => {
      let result;
      client.subscribe(payload, {
        next: (r) => (result = r),
        error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)),
        complete: () => resolve(result),
      });
    });
  report.query = await one({ query: QUERY });
  // graphql-ws has no persisted-query support of its own; a frontend sends what
  // Apollo's link sends, with "" for the text (the protocol wants a string).
  const persistedQuery = { version: 1, sha256Hash: sha256(CUSTOMERS) };
  report.persistedMiss = await one({ query: '', extensions: { persistedQuery } });
  report.persistedRegistered = await one({ query: CUSTOMERS, extensions: { persistedQuery } });
  report.persisted = await one({ query: '', extensions: { persistedQuery } });
  report.event = await firstEvent((next, error) =>
    client.subscribe({ query: EVENTS }, { next: (r) => next(r), error, complete: () => {} }),
  );
  await client.dispose();
}

async function runApollo() {
  const { ApolloClient, InMemoryCache, HttpLink, ApolloLink, gql } = await import('@apollo/client');
  const { createPersistedQueryLink } = await import('@apollo/client/link/persisted-queries');
  const { GraphQLWsLink } = await import('@apollo/client/link/subscriptions');
  const { getMainDefinition } = await import('@apollo/client/utilities');
  const http = new HttpLink({ uri: url, fetch: browserFetch, headers: { authorization: `Bearer ${token}` } });
  const persisted = createPersistedQueryLink({ sha256, useGETForHashedQueries: true });
  const ws = new GraphQLWsLink(wsClient());
  const link = ApolloLink.split(
    ({ query }) => getMainDefinition(query).operation === 'subscription',
    ws,
    persisted.concat(http),
  );
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache(),
    clientAwareness: { name: 'kehu-tests', version: '1.0' },
  });
  report.query = (await client.query({ query: gql(QUERY), fetchPolicy: 'network-only' })).data;
  report.persisted = (await client.query({ query: gql(CUSTOMERS), fetchPolicy: 'network-only' })).data;
  report.persistedAgain = (await client.query({ query: gql(CUSTOMERS), fetchPolicy: 'network-only' })).data;
  report.event = await firstEvent((next, error) => {
    const subscription = client.subscribe({ query: gql(EVENTS) }).subscribe({ next: (r) => next(r), error });
    return () => subscription.unsubscribe();
  });
  report.errorOnBadQuery = await client
    .query({ query: gql('query Bad { customers(first: 1000) { totalCount } }'), fetchPolicy: 'network-only' })
    .then((r) => r.error || null)
    .catch((e) => ({ name: e.name, errors: e.errors }));
  client.stop();
  await ws.client.dispose();
}

async function runUrql() {
  const { Client, fetchExchange, subscriptionExchange, gql } = await import('@urql/core');
  const { persistedExchange } = await import('@urql/exchange-persisted');
  const ws = wsClient();
  const client = new Client({
    url,
    fetch: browserFetch,
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
    requestPolicy: 'network-only',
    exchanges: [
      persistedExchange({ preferGetForPersistedQueries: 'within-url-limit', enableForSubscriptions: true }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          // A persisted subscription comes without its text: graphql-ws wants a string.
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query || '' }, sink) }),
        }),
      }),
    ],
  });
  const plain = new Client({
    url,
    fetch: browserFetch,
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
    requestPolicy: 'network-only',
    exchanges: [fetchExchange],
  });
  report.query = (await plain.query(gql(QUERY), {}).toPromise()).data;
  const first = await client.query(gql(CUSTOMERS), {}).toPromise();
  report.persisted = first.data;
  report.persistedError = first.error ? first.error.message : null;
  report.persistedAgain = (await client.query(gql(CUSTOMERS), {}).toPromise()).data;
  report.event = await firstEvent((next, error) => {
    const { unsubscribe } = client.subscription(gql(EVENTS), {}).subscribe((result) => {
      if (result.error) error(result.error);
      else next({ data: result.data });
    });
    return unsubscribe;
  });
  const bad = await plain.query(gql('query Bad { customers(first: 1000) { totalCount } }'), {}).toPromise();
  report.errorOnBadQuery = bad.error
    ? { message: bad.error.message, codes: bad.error.graphQLErrors.map((e) => e.extensions.code) }
    : null;
  await ws.dispose();
}

const runners = { 'graphql-ws': runGraphqlWs, apollo: runApollo, urql: runUrql };
try {
  await runners[which]();
  report.ok = true;
} catch (error) {
  report.ok = false;
  report.error =
    error && error.stack
      ? String(error.stack)
      : error && error.code !== undefined
        ? `WebSocket closed: ${error.code} ${error.reason || ''}` // a CloseEvent
        : JSON.stringify(error);
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
