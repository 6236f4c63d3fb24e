// kehu's GraphiQL page: GraphiQL's own build, served by kehu (no CDN), started
// here rather than in an inline script so that a strict Content-Security-Policy
// (script-src 'self') allows it.
(function () {
  'use strict';
  var url = window.location.origin + window.location.pathname;
  var subscriptionUrl = url.replace(/^http/, 'ws');

  var DEFAULT_QUERY = [
    '# kehu GraphiQL',
    '#',
    '# Everything but `login` needs a signed-in caller. Sign in with the mutation',
    '# below (or use an API token), then put the token in Headers:',
    '#',
    '#   {"Authorization": "Bearer <token>"}',
    '#',
    '# Ctrl-Enter runs the query; Ctrl-Space completes; the Docs pane (book icon)',
    '# describes every type and field.',
    '',
    'mutation Login($email: String!, $password: String!) {',
    '  login(input: {email: $email, password: $password}) { token expiresAt userErrors { code message } }',
    '}',
    '',
    'query Me {',
    '  me { id name email role }',
    '}',
    '',
  ].join('\n');

  // Subscriptions sign in with the connection_init payload (browsers cannot set
  // headers on a WebSocket): the Authorization header from the Headers pane goes
  // there. One fetcher per distinct header value.
  var fetchers = {};
  function fetcherFor(authorization) {
    var key = authorization || '';
    if (!fetchers[key]) {
      fetchers[key] = GraphiQL.createFetcher({
        url: url,
        subscriptionUrl: subscriptionUrl,
        wsConnectionParams: authorization ? { authorization: authorization } : {},
      });
    }
    return fetchers[key];
  }

  function authorizationOf(headers) {
    if (!headers) return null;
    for (var name in headers) {
      if (name.toLowerCase() === 'authorization') return headers[name];
    }
    return null;
  }

  function fetcher(params, options) {
    return fetcherFor(authorizationOf(options && options.headers))(params, options);
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
