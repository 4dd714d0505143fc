/**
 * The page's "in this browser" section (inserted into page-html.ts): samples the left variant with the form's seed,
 * samples and steps in the browser (browser/sampler.ts, loaded from /browser/sampler.js), next to the server's images
 * of the same seed, with the backend that ran (and whether its WebGPU adapter is a software one), the time left while
 * it runs, the per-step time and the PSNR between the two.
 */
export const browserSectionHtml = `
<h2>In this browser</h2>
<p class="note">The left variant, the same seed and steps, run here by onnxruntime-web (WebGPU, else WASM) and on the server. The status line names the backend and, after the first step, the time left.</p>
<button id="run-browser" type="button">Sample in the browser</button>
<div id="browser-status"></div>
<div class="pair">
  <figure><img id="browser-img" alt=""><figcaption id="browser-caption"></figcaption></figure>
  <figure><img id="server-img" alt=""><figcaption id="server-caption"></figcaption></figure>
</div>
<script type="module">
const $ = (id) => document.getElementById(id);
const show = (text, error = false) => { $('browser-status').textContent = text; $('browser-status').className = error ? 'error' : ''; };
const pngUrl = (bytes) => URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : 0; };
$('run-browser').addEventListener('click', async () => {
  const status = $('browser-status');
  delete status.dataset.done;
  delete status.dataset.backend;
  delete status.dataset.software;
  $('run-browser').disabled = true;
  try {
    if ($('seed').value === '') $('seed').value = String(Math.floor(Math.random() * 2 ** 32));
    const mod = await import('/browser/sampler.js').catch(async () => {
      const res = await fetch('/browser/sampler.js');
      const body = await res.json().catch(() => ({ message: res.statusText }));
      throw new Error('browser sampling is not available here: ' + body.message);
    });
    const params = { model: $('model').value, variant: $('left-variant').value, seed: $('seed').value, n: $('n').value, steps: $('steps').value, sampler: $('sampler').value, eta: $('eta').value };
    const r = await mod.runInBrowser(params, show);
    $('browser-img').src = pngUrl(r.browserPng);
    $('server-img').src = pngUrl(r.serverPng);
    $('browser-caption').textContent = 'browser, ' + r.backend + (r.fallback ? ' (fell back to wasm: ' + r.fallback + ')' : '') +
      '\\nseed ' + r.seed + ', steps ' + r.steps + ' (' + r.respacing + ') ' + r.sampler + ', step ' + median(r.stepMs).toFixed(1) + ' ms (median)' +
      '\\nsha256 ' + r.sha256.slice(0, 12) + ' checked';
    $('server-caption').textContent = 'server, seed ' + r.seed + '\\nPSNR browser vs server ' +
      r.psnrDb.toFixed(1) + ' dB' + (r.identical ? ' (identical)' : '') + ', max |diff| ' + r.maxAbs.toExponential(2);
    Object.assign(status.dataset, { backend: r.backend, fallback: r.fallback ?? '', software: r.software ?? '', psnr: String(r.psnrDb), maxAbs: String(r.maxAbs), done: 'true' });
    show('done on ' + r.backend + (r.fallback ? ': WebGPU unavailable (' + r.fallback + '), fell back to wasm' : '') +
      (r.software ? ': WebGPU runs on ' + r.software + ', which computes on the CPU; try fewer steps (e.g. ddim10)' : ''));
  } catch (error) {
    show(error.message, true);
    status.dataset.done = 'error';
  } finally {
    $('run-browser').disabled = false;
  }
});
</script>
`;
