// The static site's page: every control of the Upscale tab, run in this browser by srspace.js.
import * as srspace from "./srspace.js";
import { CompareViewer, detailedSpot } from "./viewer.js";

const $ = (id) => document.getElementById(id);
const state = { file: null, controller: null, url: null };
const PHASES = { network: "Network", alpha: "Transparency", baseline: "Bicubic, for the comparison" };

function fmtSeconds(s) {
  return s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

function setFile(file) {
  if (!file) return;
  state.file = file;
  $("picked").textContent = `${file.name || "pasted image"} (${(file.size / 1e6).toFixed(2)} MB)`;
  $("run").disabled = false;
  showMessage("");
}

function fillControls(cfg) {
  const model = $("model");
  for (const key of cfg.choices) model.add(new Option(cfg.labels[key], key));
  model.value = cfg.defaults.model;
  const factor = $("factor");
  Object.assign(factor, { min: cfg.limits.minFactor, max: cfg.limits.maxFactor, step: cfg.limits.factorStep, value: cfg.defaults.factor });
  const weights = $("weights");
  weights.add(new Option("Best measured for this model and factor", "best"));
  for (const [name, text] of Object.entries(cfg.weightSets)) weights.add(new Option(text.label, name));
  const update = () => {
    const key = model.value, f = Number(factor.value), spec = cfg.specs[key];
    $("factor-value").textContent = `×${f}`;
    if (key === cfg.autoKey) { // say what auto will run at this factor, before it runs
      const pick = cfg.factors[f.toFixed(cfg.limits.factorDecimals)].auto[weights.value];
      $("model-help").textContent = `${cfg.help[key]} Here: ${pick.note.replace(/^Auto: /, "")}`;
    } else {
      $("model-help").textContent = cfg.help[key];
    }
    weights.disabled = key === cfg.bicubicKey;
    const shown = spec && weights.value === "best" ? srspace.bestWeights(key, f) : weights.value;
    $("weights-help").textContent = key === cfg.bicubicKey ? "Bicubic has no weights."
      : shown === "best" ? "Auto picks the weights with the model."
      : `${spec && weights.value === "best" ? `Best here: ${shown}. ` : ""}${cfg.weightSets[shown].text}`;
  };
  for (const el of [model, factor, weights]) el.addEventListener("input", update);
  update();
}

function fillGallery(cfg) {
  for (const ex of cfg.examples) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "example";
    button.innerHTML = `<img src="${ex.url}" alt="${ex.label}" loading="lazy"><span>${ex.label}<br><small>${ex.model}, ×${ex.factor}</small></span>`;
    button.addEventListener("click", async () => {
      const blob = await (await fetch(ex.url)).blob();
      setFile(new File([blob], ex.url.split("/").pop(), { type: blob.type }));
      $("model").value = ex.model;
      $("factor").value = ex.factor;
      $("model").dispatchEvent(new Event("input"));
      run();
    });
    $("gallery").append(button);
  }
}

function fillModels(cfg) {
  $("models").innerHTML = cfg.choices.map((key) => `<p><b>${cfg.labels[key]}</b>: ${cfg.help[key]}</p>`).join("");
  $("quality").innerHTML = cfg.qualityHtml;
}

async function bitmap(pixels, width, height, channels) {
  return createImageBitmap(new ImageData(srspace.toRgba(pixels, width, height, channels), width, height));
}

async function run() {
  if (!state.file) { showMessage("Choose an image first, or pick one from the gallery."); return; }
  state.controller?.abort();
  const controller = state.controller = new AbortController();
  const cfg = srspace.getConfig();
  $("run").disabled = true;
  $("cancel").hidden = false;
  $("progress").hidden = false;
  $("progress").querySelector("progress").value = 0;
  $("progress-text").textContent = "Reading the image…";
  showMessage("");
  $("result").scrollIntoView?.({ behavior: "smooth", block: "start" });
  try {
    const r = await srspace.upscale(state.file, {
      model: $("model").value, factor: Number($("factor").value), weights: $("weights").value, baseline: true,
      signal: controller.signal,
      onProgress: (p) => {
        $("progress").querySelector("progress").value = p.done / p.total;
        $("progress-text").textContent = p.phase === "encoding" ? "Writing the PNG…"
          : `${PHASES[p.phase]}: tile ${p.done}/${p.total}, ${fmtSeconds(p.elapsed)} so far, about ${fmtSeconds(p.remaining)} left`;
      },
    });
    const after = await bitmap(r.pixels, r.width, r.height, r.channels);
    const before = await bitmap(r.baseline, r.width, r.height, r.baselineChannels);
    const rgba = srspace.toRgba(r.pixels, r.width, r.height, r.channels);
    state.viewer.show(before, after, ["Bicubic", cfg.titles[r.model]], detailedSpot(rgba, r.width, r.height));
    if (state.url) URL.revokeObjectURL(state.url);
    state.url = URL.createObjectURL(r.blob);
    const weights = r.weights ? ` with the <b>${r.weights}</b> weights` : "";
    const loading = r.loadSeconds > 0.05 ? `; loading the model took ${fmtSeconds(r.loadSeconds)} more` : "";
    $("result-info").innerHTML =
      `<p><a id="download" class="download" href="${state.url}" download="${r.name}">Download the result</a> ` +
      `<span class="muted name">${r.name}, lossless PNG, ${(r.blob.size / 1e6).toFixed(1)} MB</span></p>` +
      `<p id="result-stats"><b>${r.width}×${r.height}</b>: ${cfg.labels[r.model]}${weights}, network ` +
      `<b>${fmtSeconds(r.seconds)}</b> (${Math.round(r.msPerMP)} ms per output megapixel, ${r.tiles} tile${r.tiles > 1 ? "s" : ""}) ` +
      `on <b>${r.engine}</b>, ${r.threads} thread${r.threads > 1 ? "s" : ""}${loading}.</p>` +
      (r.notices.length ? `<ul>${r.notices.map((n) => `<li>${n}</li>`).join("")}</ul>` : "");
    $("placeholder").hidden = true;
    $("progress-text").textContent = "Done.";
    $("result").scrollIntoView?.({ behavior: "smooth", block: "start" });
  } catch (e) {
    if (e.name === "AbortError") showMessage("Cancelled. Nothing was lost: change the settings and run again.");
    else showMessage(e.message);
    $("progress").hidden = true;
  } finally {
    if (state.controller === controller) state.controller = null;
    $("run").disabled = !state.file;
    $("cancel").hidden = true;
  }
}

async function main() {
  const response = await fetch("config.json");
  const cfg = await response.json();
  srspace.configure(cfg);
  globalThis.srspace = srspace; // for the console and the tests
  state.viewer = new CompareViewer($("viewer"));
  fillControls(cfg);
  fillGallery(cfg);
  fillModels(cfg);
  $("choose").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => setFile($("file").files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); setFile(e.dataTransfer.files[0]); });
  document.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === "file");
    if (item) setFile(item.getAsFile());
  });
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", () => state.controller?.abort());
  try {
    const info = await srspace.info();
    const threads = `${info.threads} thread${info.threads > 1 ? "s" : ""}`;
    $("engine").textContent = info.engine === "webgpu"
      ? `Engine: WebGPU (your graphics card), WASM with ${threads} where a graph cannot run there.`
      : `Engine: WebAssembly, ${threads} of ${info.cores} cores.` +
        (info.isolated ? "" : " This host does not send the cross-origin isolation headers, so only one thread runs (see the README).") +
        (info.fallback ? ` (${info.fallback}.)` : "");
    document.body.dataset.ready = "true";
  } catch (e) {
    showMessage(`The upscaler could not start: ${e.message}`);
  }
}

main();
