// Boots GraphiQL (the vendored UMD builds put React, ReactDOM, GraphiQL and
// GraphiQLPluginExplorer on window) the way Strawberry's own page does, from a file
// so the page's policy needs no inline script. The query, variables and headers
// live in the address, so a link shares them.
(function () {
  const START = `# Baton's GraphQL API. Sign in first:
#
#   mutation { login(input: {email: "sales@demo.baton", password: "baton-demo"}) { token } }
#
# then put {"Authorization": "Bearer <the token>"} under Headers below.
# Run with Ctrl-Enter; complete with Ctrl-Space.

{ viewer { name email department { name } } }
`;
  const params = new URLSearchParams(window.location.search);
  function remember(key, value) {
    if (value) params.set(key, value); else params.delete(key);
    history.replaceState(null, '', `?${params}`);
  }

  const url = window.location.href.split('?')[0];
  const socket = new URL(url);
  socket.protocol = socket.protocol === 'https:' ? 'wss:' : 'ws:';
  socket.hash = '';
  const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl: socket.toString() });

  function Page() {
    const [query, setQuery] = React.useState(params.get('q') || START);
    const [variables, setVariables] = React.useState(params.get('variables') || undefined);
    const [headers, setHeaders] = React.useState(params.get('headers') || undefined);
    return React.createElement(GraphiQL, {
      fetcher,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      defaultEditorToolsVisibility: true,
      query,
      variables,
      headers,
      onEditQuery: (q) => { setQuery(q); remember('q', q); },
      onEditVariables: (v) => { setVariables(v); remember('variables', v); },
      onEditHeaders: setHeaders, // not in the address: they hold tokens
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(Page));
}());
