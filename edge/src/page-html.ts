/**
 * `GET /`: compare two variants (fp32 and int8 by default) of one artifact on the same seeds, side by side, with
 * their timings. Plain HTML and a small script; it only calls /models and /sample, so it runs in any browser.
 */
import { browserSectionHtml } from './browser/page-section.ts';
import { DEFAULT_STEPS } from './sample-request.ts';

export const pageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qdm: fp32 vs int8 samples</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
  form { display: flex; flex-wrap: wrap; gap: .75rem 1.25rem; align-items: end; }
  label { display: flex; flex-direction: column; font-size: .8rem; color: #555; }
  input, select, button { font: inherit; padding: .3rem .4rem; }
  input, select { box-sizing: border-box; height: 2.1rem; }
  input[type=number] { width: 8rem; }
  button { padding: .4rem 1.2rem; cursor: pointer; }
  .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5rem; margin-top: 1.5rem; }
  figure { margin: 0; }
  figure img { width: 100%; max-width: 28rem; image-rendering: pixelated; background: #eee; min-height: 4rem; }
  figcaption { font-size: .85rem; color: #444; white-space: pre-line; margin-top: .4rem; }
  #status { margin-top: 1rem; min-height: 1.4em; color: #555; }
  #status.error { color: #b00; }
</style>
</head>
<body>
<h1>qdm: the same seeds through two variants</h1>
<form id="controls">
  <label>model <select id="model"></select></label>
  <label>left <select id="left-variant"></select></label>
  <label>right <select id="right-variant"></select></label>
  <label>seed <input id="seed" type="number" min="0" max="4294967295" step="1" placeholder="random"></label>
  <label>samples <input id="n" type="number" min="1" max="16" value="4"></label>
  <label>sampler <select id="sampler"><option value="ddim" selected>ddim</option><option value="dpmpp2m">dpm++2m</option><option value="ddpm">ddpm</option></select></label>
  <label>steps <input id="steps" value="${DEFAULT_STEPS}" size="8"></label>
  <label>eta <input id="eta" type="number" min="0" max="1" step="0.1" value="0"></label>
  <button id="run" type="submit">Sample both</button>
  <span id="schedule-note" class="note"></span>
</form>
<div id="status"></div>
<div class="pair">
  <figure id="left"><img id="left-img" alt=""><figcaption id="left-caption"></figcaption></figure>
  <figure id="right"><img id="right-img" alt=""><figcaption id="right-caption"></figcaption></figure>
</div>
<script type="module">
const $ = (id) => document.getElementById(id);
const status = (text, error = false) => { $('status').textContent = text; $('status').className = error ? 'error' : ''; };
let models = [];

function fillVariants() {
  const m = models.find((x) => x.name === $('model').value);
  const names = m ? Object.keys(m.variants) : [];
  const right = names.includes('int8') ? 'int8' : names.find((v) => v !== 'fp32') ?? names[0];
  for (const [id, chosen] of [['left-variant', names.includes('fp32') ? 'fp32' : names[0]], ['right-variant', right]]) {
    $(id).replaceChildren(...names.map((v) => new Option(v, v, false, v === chosen)));
  }
  showSchedule();
}

// The schedule the right (quantized) variant was calibrated for fills the form, so both sides run it.
function showSchedule() {
  const m = models.find((x) => x.name === $('model').value);
  const variant = $('right-variant').value;
  const s = m?.variants[variant]?.schedule;
  if (!s?.calibrated) { $('schedule-note').textContent = ''; return; }
  $('steps').value = s.steps;
  $('sampler').value = s.sampler === 'dpm++2m' ? 'dpmpp2m' : s.sampler;
  $('schedule-note').textContent = variant + ' was calibrated for ' + s.sampler + ' ' + s.steps;
}

function timing(header) {
  const out = {};
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.find((p) => p.trim().startsWith('dur='));
    if (name && dur) out[name] = Number(dur.trim().slice(4));
  }
  return out;
}

async function sampleInto(side, params) {
  const img = $(side + '-img');
  img.removeAttribute('data-loaded');
  const started = performance.now();
  const res = await fetch('/sample?' + new URLSearchParams(params));
  if (!res.ok) {
    const err = await res.json().catch(() => ({ message: res.statusText }));
    throw new Error(params.variant + ': ' + err.message);
  }
  const blob = await res.blob();
  const wall = performance.now() - started;
  const t = timing(res.headers.get('server-timing'));
  await new Promise((resolve, reject) => {
    img.onload = resolve;
    img.onerror = () => reject(new Error(params.variant + ': the image did not decode'));
    img.src = URL.createObjectURL(blob);
  });
  img.dataset.loaded = 'true';
  img.alt = params.variant + ' samples';
  $(side + '-caption').textContent =
    params.variant + '  sha256 ' + (res.headers.get('x-qdm-sha256') ?? '').slice(0, 12) + '\\n' +
    'seed ' + res.headers.get('x-qdm-seed') + ', samples 0..' + (params.n - 1) + ', ' + res.headers.get('x-qdm-sampler') + ' steps ' + res.headers.get('x-qdm-steps') + '\\n' +
    'step ' + (t.step ?? 0).toFixed(1) + ' ms, load ' + (t.load ?? 0).toFixed(0) + ' ms, total ' +
    (t.total ?? 0).toFixed(0) + ' ms (browser ' + wall.toFixed(0) + ' ms)';
}

$('controls').addEventListener('submit', async (event) => {
  event.preventDefault();
  if ($('seed').value === '') $('seed').value = String(Math.floor(Math.random() * 2 ** 32));
  const common = { model: $('model').value, seed: $('seed').value, n: $('n').value, steps: $('steps').value, sampler: $('sampler').value, eta: $('eta').value, format: 'png' };
  $('run').disabled = true;
  try {
    // One after the other, so the two timings do not compete for the same CPU.
    status('sampling ' + $('left-variant').value + ' ...');
    await sampleInto('left', { ...common, variant: $('left-variant').value });
    status('sampling ' + $('right-variant').value + ' ...');
    await sampleInto('right', { ...common, variant: $('right-variant').value });
    status('done');
  } catch (error) {
    status(error.message, true);
  } finally {
    $('run').disabled = false;
  }
});

$('model').addEventListener('change', fillVariants);
$('right-variant').addEventListener('change', showSchedule);
fetch('/models').then((r) => r.json()).then((body) => {
  models = body.models.filter((m) => !m.error);
  $('model').replaceChildren(...models.map((m) => new Option(m.name, m.name)));
  fillVariants();
  status(models.length ? 'ready' : 'no artifacts in ' + body.source, !models.length);
  document.body.dataset.ready = 'true';
}).catch((error) => status('cannot list models: ' + error.message, true));
</script>
${browserSectionHtml}
</body>
</html>
`;
