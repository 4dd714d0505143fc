/**
 * The page's API key, when the deployment needs one: a field that keeps it in this browser only (localStorage),
 * and a wrapper of `fetch` that sends it as `Authorization: Bearer` on the page's own-origin requests (the page's
 * and the browser sampler's fetches alike). Inserted into the page by the app, so the page itself is unchanged.
 */
export const PAGE_KEY_STORAGE = 'qdm-api-key';

const snippet = `<script>
(() => {
  const STORE = ${JSON.stringify(PAGE_KEY_STORAGE)};
  const plain = window.fetch.bind(window);
  window.fetch = (resource, init = {}) => {
    const key = localStorage.getItem(STORE);
    const url = new URL(resource instanceof Request ? resource.url : String(resource), location.href);
    if (!key || url.origin !== location.origin) return plain(resource, init);
    const headers = new Headers(init.headers ?? (resource instanceof Request ? resource.headers : undefined));
    if (!headers.has('authorization')) headers.set('authorization', 'Bearer ' + key);
    return plain(resource, { ...init, headers });
  };
  addEventListener('DOMContentLoaded', () => {
    const form = document.createElement('form');
    form.id = 'api-key-form';
    form.style.cssText = 'position:fixed;top:6px;right:8px;font:12px system-ui,sans-serif;background:inherit';
    form.innerHTML = '<label>API key <input id="api-key" type="password" autocomplete="off" size="14"></label> ' +
      '<button id="api-key-save" type="submit">use</button>';
    document.body.prepend(form);
    const input = form.querySelector('#api-key');
    input.value = localStorage.getItem(STORE) ?? '';
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (key) localStorage.setItem(STORE, key);
      else localStorage.removeItem(STORE);
      location.reload();
    });
  });
})();
</script>`;

/** `html` with the key field and the fetch wrapper, before the page's own scripts run. */
export function withKeyField(html: string): string {
  const at = html.indexOf('</head>');
  return at < 0 ? snippet + html : html.slice(0, at) + snippet + html.slice(at);
}
