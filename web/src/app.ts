// The stylize page: choose a photo and a painting, submit a job to the api, follow it
// with server-sent events (or polling when those fail), and keep recent jobs in this
// browser. Everything it knows about jobs comes from the api.

import type { components } from "./api";

// The api's types, generated at set-up from its OpenAPI document (src/api.d.ts), so
// that the page cannot drift from the api.
type Schemas = components["schemas"];
type Preset = Schemas["Preset"];
/** The same in a job's status and in its `progress` events. */
type Progress = Schemas["LiveProgress"];
type JobState = Schemas["JobState"];
type Job = Schemas["JobView"];
/** What an error answer may carry: a problem's fields, if it is one. */
type Problem = Partial<Schemas["Problem"]>;
/** A worker as `GET /v1/queue` lists it. */
type WorkerInfo = Schemas["WorkerReport"];
/** A quality's parameters in an answer are all written out (in a request, each may be
 * left out). */
type QualityInfo = Schemas["QualityInfo"] & { params: Required<Schemas["StyleParams"]> };
type QueueInfo = Schemas["Snapshot"];

interface RecentJob {
  id: string;
  state: JobState;
  at: string;
}

/** What the api accepts too (its limits are checked again there). */
const ACCEPTED_TYPES = ["image/jpeg", "image/png", "image/webp"];
const MAX_IMAGE_BYTES = 30 * 1024 * 1024;
const STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"];
const RECENT_KEY = "stylize.recent";
const RECENT_MAX = 12;
const TERMINAL: JobState[] = ["succeeded", "failed", "canceled"];
/** The quality choice that is one pass of the fast network (a `fast` job). */
const INSTANT = "instant";
/** Where a GPU serves, the defaults it suits: large and fine. The page's own (512 px,
 * draft) are a CPU's: a few minutes on two cores. `quick` (about 40 s) is not the
 * default until it meets its quality goal (docs/benchmarks/quality.md, "Quick"). */
const GPU_DEFAULTS = { size: "1024", quality: "fine" };
/** How often the page asks again how busy and how fast the workers are. */
const QUEUE_REFRESH_MS = 30_000;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page lacks #${id}`);
  return found as T;
}

const form = element<HTMLFormElement>("job-form");
const contentInput = element<HTMLInputElement>("content-input");
const contentPreview = element<HTMLImageElement>("content-preview");
const contentUrl = element<HTMLInputElement>("content-url");
const dropZone = element<HTMLLabelElement>("drop-zone");
const dropHint = element<HTMLSpanElement>("drop-hint");
const contentError = element<HTMLParagraphElement>("content-error");
const gallery = element<HTMLDivElement>("gallery");
const styleInput = element<HTMLInputElement>("style-input");
const styleError = element<HTMLParagraphElement>("style-error");
const blendOn = element<HTMLInputElement>("blend-on");
const blendFields = element<HTMLDivElement>("blend-fields");
const secondStyle = element<HTMLSelectElement>("second-style");
const blend = element<HTMLInputElement>("blend");
const blendValue = element<HTMLOutputElement>("blend-value");
const strength = element<HTMLInputElement>("strength");
const strengthValue = element<HTMLOutputElement>("strength-value");
const layerWeights = element<HTMLDivElement>("layer-weights");
const sizeSelect = element<HTMLSelectElement>("size");
const exactSize = element<HTMLInputElement>("exact-size");
const queueNote = element<HTMLParagraphElement>("queue-note");
const generate = element<HTMLButtonElement>("generate");
const formError = element<HTMLParagraphElement>("form-error");
const jobSection = element<HTMLElement>("job");
const canvas = element<HTMLDivElement>("canvas");
const jobImage = element<HTMLImageElement>("job-image");
const canvasNote = element<HTMLParagraphElement>("canvas-note");
const progressBar = element<HTMLProgressElement>("progress");
const progressText = element<HTMLParagraphElement>("progress-text");
const cancelButton = element<HTMLButtonElement>("cancel");
const download = element<HTMLAnchorElement>("download");
const permalink = element<HTMLAnchorElement>("permalink");
const again = element<HTMLButtonElement>("again");
const jobError = element<HTMLParagraphElement>("job-error");
const recentList = element<HTMLUListElement>("recent");
const recentEmpty = element<HTMLParagraphElement>("recent-empty");

let presets: Preset[] = [];
let contentFile: File | null = null;
let styleFile: File | null = null;

// ---- choosing inputs -------------------------------------------------------------

/** Why `file` cannot be sent, or null when it may be. */
function rejectReason(file: File): string | null {
  if (!ACCEPTED_TYPES.includes(file.type)) {
    return `${file.name} is not a JPEG, PNG or WebP image.`;
  }
  if (file.size > MAX_IMAGE_BYTES) {
    const megabytes = (file.size / 1024 / 1024).toFixed(1);
    return `${file.name} is ${megabytes} MB; the limit is 30 MB.`;
  }
  return null;
}

/** Why `address` cannot be sent as the photo's address, or null when it may be. */
function addressProblem(address: string): string | null {
  try {
    const { protocol } = new URL(address);
    if (protocol === "http:" || protocol === "https:") return null;
  } catch {
    // not a URL at all: the same answer
  }
  return "The photo's address must be a web address starting with http:// or https://.";
}

function chooseContent(file: File | undefined): void {
  contentError.textContent = "";
  if (!file) return;
  const reason = rejectReason(file);
  if (reason) {
    contentError.textContent = reason;
    contentFile = null;
    contentPreview.hidden = true;
    return;
  }
  contentFile = file;
  contentUrl.value = "";
  contentPreview.src = URL.createObjectURL(file);
  contentPreview.alt = `Your photo, ${file.name}`;
  contentPreview.hidden = false;
  dropHint.hidden = true;
}

contentInput.addEventListener("change", () => chooseContent(contentInput.files?.[0]));
// An address replaces a chosen file; the api fetches it.
contentUrl.addEventListener("input", () => {
  contentError.textContent = "";
  if (!contentUrl.value.trim()) return;
  contentFile = null;
  contentInput.value = "";
  contentPreview.hidden = true;
  dropHint.hidden = false;
});

for (const name of ["dragenter", "dragover"]) {
  dropZone.addEventListener(name, (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  });
}
for (const name of ["dragleave", "drop"]) {
  dropZone.addEventListener(name, () => dropZone.classList.remove("dragging"));
}
dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  chooseContent((event as DragEvent).dataTransfer?.files[0]);
});

styleInput.addEventListener("change", () => {
  styleError.textContent = "";
  const file = styleInput.files?.[0];
  styleFile = null;
  if (!file) return;
  const reason = rejectReason(file);
  if (reason) {
    styleError.textContent = reason;
    return;
  }
  styleFile = file;
  for (const radio of gallery.querySelectorAll<HTMLInputElement>("input[type=radio]")) {
    radio.checked = false;
  }
});

async function loadPresets(): Promise<void> {
  try {
    const response = await fetch("/v1/styles");
    if (!response.ok) throw new Error(await problemText(response));
    presets = ((await response.json()) as { styles: Preset[] }).styles;
  } catch (error) {
    gallery.innerHTML = "";
    gallery.append(paragraph(`The paintings could not be loaded: ${String(error)}`, "error"));
    return;
  }
  gallery.innerHTML = "";
  presets.forEach((preset, index) => {
    const label = document.createElement("label");
    label.className = "preset";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "preset";
    radio.value = preset.id;
    radio.checked = index === 0;
    radio.addEventListener("change", () => {
      styleFile = null;
      styleInput.value = "";
    });
    const image = document.createElement("img");
    image.src = preset.thumbnail;
    image.alt = "";
    image.loading = "lazy";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = preset.title;
    const credit = document.createElement("span");
    credit.className = "credit";
    credit.textContent = [preset.artist, preset.year].filter(Boolean).join(", ");
    label.append(radio, image, title, credit);
    gallery.append(label);

    const option = new Option(`${preset.title}${preset.artist ? ` (${preset.artist})` : ""}`, preset.id);
    secondStyle.append(option);
  });
  if (presets.length > 1) secondStyle.selectedIndex = 1;
}

blendOn.addEventListener("change", () => (blendFields.hidden = !blendOn.checked));
blend.addEventListener("input", () => (blendValue.textContent = `${blend.value}%`));
const STRENGTH_WORDS: Record<string, string> = {
  "-4": "mostly photo", "-2": "more photo", "0": "balanced", "2": "more painting", "4": "mostly painting",
};
strength.addEventListener("input", () => {
  strengthValue.textContent = STRENGTH_WORDS[strength.value] ?? `${Number(strength.value) > 0 ? "+" : ""}${strength.value}`;
});

// Each style layer's weight as a multiple of the chosen quality's.
for (const layer of STYLE_LAYERS) {
  const label = document.createElement("label");
  label.textContent = `${layer} ×`;
  const input = document.createElement("input");
  input.type = "number";
  input.min = "0";
  input.step = "0.1";
  input.value = "1";
  input.dataset.layer = layer;
  label.append(input);
  layerWeights.append(label);
}

// ---- what the workers can do ---------------------------------------------------------

let queueInfo: QueueInfo | null = null;
/** The qualities by name, once `GET /v1/qualities` has answered. */
const qualities = new Map<string, QualityInfo>();
/** Whether the person chose a size or quality: the page then leaves them be. */
let settingsChosen = false;
/** Whether the defaults were fitted to the workers: once, so they do not change under
 * the person's eyes at a later refresh. */
let defaultsFitted = false;

/** Megapixels of the output at the chosen size, in the chosen photo's shape (4:3 until a
 * photo is chosen, or when it is given by its address). */
function outputMegapixels(): number {
  const size = outputSize();
  const [width, height] = contentFile && contentPreview.naturalWidth > 0
    ? [contentPreview.naturalWidth, contentPreview.naturalHeight]
    : [4, 3];
  const shortSide = Math.max(1, Math.round((size * Math.min(width, height)) / Math.max(width, height)));
  return (size * shortSide) / 1e6;
}

/** The workers' mean of a rate, over those that have measured it; null when none has. */
function meanRate(rate: (worker: WorkerInfo) => number | null | undefined): number | null {
  const known = (queueInfo?.workers ?? []).map(rate).filter((value): value is number => value != null);
  return known.length ? known.reduce((sum, value) => sum + value, 0) / known.length : null;
}

/** About how long a job of `choice` takes once a worker runs it, in seconds; null when
 * the workers have not measured what it needs. A full job's first picture is a fast
 * pass too. */
function estimateSeconds(choice: string): number | null {
  const fastPass = meanRate((worker) => worker.fast_pass_seconds_per_megapixel);
  const iteration = meanRate((worker) => worker.seconds_per_iteration_per_megapixel);
  const megapixels = outputMegapixels();
  if (choice === INSTANT) return fastPass == null ? null : fastPass * megapixels;
  const chosen = qualities.get(choice);
  if (iteration == null || !chosen) return null;
  // Steps given by hand keep the quality's mix of coarse and full-size steps.
  const steps = numberOr("iterations", chosen.params.iterations);
  const cost = (chosen.full_size_iterations * steps) / chosen.params.iterations;
  return (cost * iteration + (fastPass ?? 0)) * megapixels;
}

function describeEstimate(seconds: number | null): string {
  if (seconds == null) return "time not known yet";
  if (seconds < 1) return "under a second";
  if (seconds < 90) return `about ${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

function renderEstimates(): void {
  for (const estimate of form.querySelectorAll<HTMLElement>(".estimate")) {
    estimate.textContent = queueInfo?.workers ? describeEstimate(estimateSeconds(estimate.dataset.quality ?? "")) : "";
  }
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function renderQueueNote(): void {
  const workers = queueInfo?.workers;
  if (!queueInfo || !workers) {
    queueNote.textContent = "The workers could not be asked just now, so there are no time estimates.";
    return;
  }
  if (workers.length === 0) {
    queueNote.textContent = "No worker is running just now: a job waits until one starts.";
    return;
  }
  const gpus = workers.filter((worker) => worker.device.startsWith("cuda")).length;
  const devices = [gpus ? `${gpus} GPU` : "", gpus < workers.length ? `${workers.length - gpus} CPU` : ""]
    .filter(Boolean)
    .join(", ");
  const timed = workers.some((worker) => worker.seconds_per_iteration_per_megapixel != null
    || worker.fast_pass_seconds_per_megapixel != null);
  queueNote.textContent = `${plural(workers.length, "worker")} (${devices}): `
    + `${plural(queueInfo.running, "job")} running, ${queueInfo.queued} waiting. `
    + (timed ? "Times are estimated from their recent speed, once a job starts."
      : "No worker has timed a job yet, so there are no estimates yet.");
}

/** Where a GPU serves, the defaults it suits, unless the person already chose; decided
 * once, at the first answer that lists a worker. */
function fitDefaults(): void {
  const workers = queueInfo?.workers ?? [];
  if (defaultsFitted || settingsChosen || workers.length === 0) return;
  defaultsFitted = true;
  if (!workers.some((worker) => worker.device.startsWith("cuda"))) return;
  sizeSelect.value = GPU_DEFAULTS.size;
  for (const radio of qualityRadios()) radio.checked = radio.value === GPU_DEFAULTS.quality;
}

async function loadQualities(): Promise<void> {
  try {
    const response = await fetch("/v1/qualities");
    if (!response.ok) throw new Error(await problemText(response));
    const list = (await response.json()) as { qualities: QualityInfo[] };
    for (const info of list.qualities) qualities.set(info.name, info);
  } catch {
    // Without them the page still submits (the api knows the qualities); it only has
    // no estimates.
  }
  renderEstimates();
}

/** The number inputs' bounds, from the parameters' schema in the api's OpenAPI
 * document: the bounds the api checks, written in one place (shared/core's `bounds`). */
async function loadBounds(): Promise<void> {
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) return;
    type Bounded = { minimum?: number; maximum?: number };
    const document = (await response.json()) as {
      components: { schemas: { StyleParams: { properties: Record<string, Bounded> } } };
    };
    const properties = document.components.schemas.StyleParams.properties;
    for (const [input, parameter] of [["exact-size", "size"], ["iterations", "iterations"]]) {
      const bound = properties[parameter] ?? {};
      const field = element<HTMLInputElement>(input);
      if (bound.minimum !== undefined) field.min = String(bound.minimum);
      if (bound.maximum !== undefined) field.max = String(bound.maximum);
    }
  } catch {
    // Without them the inputs take any number, and the api names a bad one.
  }
}

async function loadQueue(): Promise<void> {
  try {
    const response = await fetch("/v1/queue");
    if (!response.ok) throw new Error(await problemText(response));
    queueInfo = (await response.json()) as QueueInfo;
  } catch {
    queueInfo = null;
  }
  fitDefaults();
  renderQueueNote();
  renderEstimates();
}

for (const control of [sizeSelect, ...qualityRadios()]) {
  control.addEventListener("change", () => (settingsChosen = true));
}
sizeSelect.addEventListener("change", renderEstimates);
exactSize.addEventListener("input", renderEstimates);
element<HTMLInputElement>("iterations").addEventListener("input", renderEstimates);
contentPreview.addEventListener("load", renderEstimates);

// ---- submitting --------------------------------------------------------------------

function numberOr(id: string, fallback: number): number {
  const raw = element<HTMLInputElement | HTMLSelectElement>(id).value.trim();
  return raw === "" ? fallback : Number(raw);
}

function qualityRadios(): HTMLInputElement[] {
  return [...form.querySelectorAll<HTMLInputElement>("input[name=quality]")];
}

/** The chosen quality: `instant`, or the name of one of the api's qualities. */
function quality(): string {
  return qualityRadios().find((radio) => radio.checked)?.value ?? "draft";
}

function outputSize(): number {
  return numberOr("exact-size", Number(sizeSelect.value));
}

/** The parameters to send: the chosen quality, and only what the person changed over
 * it (the api fills in the rest from the quality). */
function parameters(styleCount: number): Record<string, unknown> {
  const instant = quality() === INSTANT;
  // An instant job is a fast pass; the optimiser's settings are the default quality's.
  const chosen = instant ? undefined : qualities.get(quality());
  const params: Record<string, unknown> = {
    mode: instant ? "fast" : "full",
    size: outputSize(),
    seed: numberOr("seed", 0),
    preserve_colors: element<HTMLInputElement>("preserve-colors").checked,
  };
  if (!instant) params.quality = quality();
  if (element<HTMLInputElement>("iterations").value.trim() !== "") params.iterations = numberOr("iterations", 1);
  const optimizer = element<HTMLSelectElement>("optimizer").value;
  if (optimizer !== (chosen?.params.optimizer ?? "lbfgs")) params.optimizer = optimizer;
  if (chosen && Number(strength.value) !== 0) {
    params.style_weight = Number((chosen.params.style_weight * Math.pow(1.8, Number(strength.value))).toPrecision(3));
  }
  const multiples = new Map([...layerWeights.querySelectorAll<HTMLInputElement>("input")]
    .map((input) => [input.dataset.layer ?? "", Number(input.value)]));
  if (chosen && [...multiples.values()].some((multiple) => multiple !== 1)) {
    params.style_layers = chosen.params.style_layers.map(({ layer, weight }) => ({
      layer,
      weight: Number((weight * (multiples.get(layer) ?? 1)).toPrecision(6)),
    }));
  }
  if (styleCount === 2) {
    const second = Number(blend.value) / 100;
    params.style_blend_weights = [1 - second, second];
  }
  return params;
}

async function problemText(response: Response): Promise<string> {
  try {
    const problem = (await response.json()) as Problem;
    return problem.detail ?? problem.title ?? `the server answered ${response.status}`;
  } catch {
    return `the server answered ${response.status}`;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.textContent = "";
  const body = new FormData();
  const address = contentUrl.value.trim();
  if (contentFile) {
    body.append("content", contentFile, contentFile.name);
  } else if (address) {
    const problem = addressProblem(address);
    if (problem) {
      contentError.textContent = problem;
      contentUrl.focus();
      return;
    }
    body.append("content_url", address);
  } else {
    contentError.textContent = contentError.textContent || "Choose a photo, or give its address.";
    contentInput.focus();
    return;
  }
  const chosen = gallery.querySelector<HTMLInputElement>("input[type=radio]:checked");
  let styleCount = 0;
  if (styleFile) {
    body.append("style", styleFile, styleFile.name);
    styleCount += 1;
  } else if (chosen) {
    body.append("preset", chosen.value);
    styleCount += 1;
  } else {
    formError.textContent = "Pick a painting, or upload your own.";
    return;
  }
  if (blendOn.checked) {
    body.append("preset", secondStyle.value);
    styleCount += 1;
  }
  body.append("params", JSON.stringify(parameters(styleCount)));

  generate.disabled = true;
  try {
    const response = await fetch("/v1/jobs", { method: "POST", body });
    if (!response.ok) {
      formError.textContent = `Not accepted: ${await problemText(response)}`;
      return;
    }
    const job = (await response.json()) as Job;
    remember(job);
    history.pushState(null, "", `?job=${job.id}`);
    follow(job);
  } catch (error) {
    formError.textContent = `The request failed: ${String(error)}`;
  } finally {
    generate.disabled = false;
  }
});

// ---- following a job ---------------------------------------------------------------

let stopFollowing: () => void = () => {};

function describeTime(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function showProgress(progress: Progress, jobId: string, shownPreview: { iteration: number | null }): void {
  const preview = progress.preview_iteration;
  // Whichever way progress came (events or polling), a new preview is shown: a full
  // job's first (step 0) is the fast network's picture, there before any step.
  if (preview != null && preview !== shownPreview.iteration) {
    shownPreview.iteration = preview;
    jobImage.src = `/v1/jobs/${jobId}/preview?at=${preview}`;
    jobImage.alt = preview === 0 ? "A first picture, to be refined" : `The painting as it forms, at step ${preview}`;
    canvasNote.hidden = true;
  }
  const percent = Math.round(100 * progress.fraction);
  progressBar.value = percent;
  if (progress.phase === "fast" && progress.iteration === 0) {
    progressText.textContent = "Painting a first picture…";
    return;
  }
  const left = progress.eta_seconds == null ? "" : `, about ${describeTime(progress.eta_seconds)} left`;
  const scale = progress.scales > 1 ? `scale ${progress.scale} of ${progress.scales}, ` : "";
  progressText.textContent = `${percent}% (${scale}step ${progress.iteration} of ${progress.total})${left}`;
}

function showJob(job: Job, shownPreview: { iteration: number | null }): void {
  canvas.style.aspectRatio = `${job.width} / ${job.height}`;
  const finished = TERMINAL.includes(job.state);
  cancelButton.hidden = finished;
  if (job.progress) showProgress(job.progress, job.id, shownPreview);
  if (job.state === "queued") progressText.textContent = "Waiting for a worker…";
  if (job.cancel_requested && !finished) progressText.textContent = "Canceling…";
  if (!finished) return;
  remember(job);
  void loadQueue();
  again.hidden = false;
  permalink.hidden = false;
  permalink.href = `/?job=${job.id}`;
  if (job.state === "succeeded") {
    progressBar.value = 100;
    progressText.textContent = "Done.";
    jobImage.src = job.links.result;
    jobImage.alt = "Your photo, repainted";
    canvasNote.hidden = true;
    download.href = job.links.result;
    download.download = `stylize-${job.id}.png`;
    download.hidden = false;
  } else if (job.state === "canceled") {
    progressText.textContent = "Canceled.";
  } else {
    progressText.textContent = "Failed.";
    jobError.textContent = job.error ?? "The job failed.";
  }
}

function follow(job: Job): void {
  stopFollowing();
  jobSection.hidden = false;
  jobError.textContent = "";
  download.hidden = true;
  again.hidden = true;
  permalink.hidden = true;
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  progressBar.value = 0;
  jobImage.removeAttribute("src");
  jobImage.alt = "";
  canvasNote.hidden = false;
  const shownPreview: { iteration: number | null } = { iteration: null };
  showJob(job, shownPreview);
  jobSection.scrollIntoView({ behavior: "smooth", block: "start" });
  if (TERMINAL.includes(job.state)) return;

  let done = false;
  let poller: number | undefined;
  const events = new EventSource(`/v1/jobs/${job.id}/events`);
  const finish = () => {
    done = true;
    events.close();
    if (poller !== undefined) window.clearInterval(poller);
  };
  stopFollowing = finish;
  events.addEventListener("progress", (event) => {
    showProgress(JSON.parse((event as MessageEvent<string>).data) as Progress, job.id, shownPreview);
  });
  events.addEventListener("state", (event) => {
    const latest = JSON.parse((event as MessageEvent<string>).data) as Job;
    showJob(latest, shownPreview);
    if (TERMINAL.includes(latest.state)) finish();
  });
  // The api ends each stream after a while and the browser reconnects by itself; only
  // events that keep failing (a proxy, the api refusing the stream) fall back to polling.
  let failures = 0;
  events.addEventListener("open", () => {
    failures = 0;
  });
  events.addEventListener("error", () => {
    if (done || poller !== undefined) return;
    failures += 1;
    if (events.readyState === EventSource.CONNECTING && failures < 3) return;
    events.close();
    poller = window.setInterval(async () => {
      const response = await fetch(job.links.self).catch(() => null);
      if (!response?.ok || done) return;
      const latest = (await response.json()) as Job;
      showJob(latest, shownPreview);
      if (TERMINAL.includes(latest.state)) finish();
    }, 1000);
  });
  cancelButton.onclick = async () => {
    cancelButton.disabled = true;
    const response = await fetch(`/v1/jobs/${job.id}/cancel`, { method: "POST" });
    if (!response.ok) {
      jobError.textContent = `Could not cancel: ${await problemText(response)}`;
      cancelButton.disabled = false;
    } else {
      progressText.textContent = "Canceling…";
    }
  };
}

again.addEventListener("click", () => {
  stopFollowing();
  jobSection.hidden = true;
  history.pushState(null, "", "/");
  form.scrollIntoView({ behavior: "smooth" });
});

async function openJob(id: string): Promise<void> {
  const response = await fetch(`/v1/jobs/${encodeURIComponent(id)}`);
  if (!response.ok) {
    jobSection.hidden = false;
    jobError.textContent = `That painting is not available: ${await problemText(response)}`;
    return;
  }
  follow((await response.json()) as Job);
}

// ---- recent jobs, kept in this browser ------------------------------------------------

function recentJobs(): RecentJob[] {
  try {
    const stored = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]") as RecentJob[];
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];
  }
}

function remember(job: Job): void {
  const stored = recentJobs();
  const others = stored.filter((entry) => entry.id !== job.id);
  const at = stored.find((entry) => entry.id === job.id)?.at ?? new Date().toISOString();
  const updated = [{ id: job.id, state: job.state, at }, ...others].slice(0, RECENT_MAX);
  localStorage.setItem(RECENT_KEY, JSON.stringify(updated));
  renderRecent();
}

function renderRecent(): void {
  const jobs = recentJobs();
  recentEmpty.hidden = jobs.length > 0;
  recentList.replaceChildren(
    ...jobs.map((entry) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/?job=${entry.id}`;
      const when = new Date(entry.at).toLocaleString();
      if (entry.state === "succeeded") {
        const image = document.createElement("img");
        image.src = `/v1/jobs/${entry.id}/result`;
        image.alt = `Painting from ${when}`;
        image.loading = "lazy";
        link.append(image);
      } else {
        const placeholder = document.createElement("span");
        placeholder.className = "placeholder";
        placeholder.textContent = entry.state;
        link.append(placeholder, paragraph(when, "muted"));
      }
      link.addEventListener("click", (event) => {
        event.preventDefault();
        history.pushState(null, "", link.href);
        void openJob(entry.id);
      });
      item.append(link);
      return item;
    }),
  );
}

function paragraph(text: string, className: string): HTMLParagraphElement {
  const p = document.createElement("p");
  p.className = className;
  p.textContent = text;
  return p;
}

window.addEventListener("popstate", () => {
  const id = new URLSearchParams(location.search).get("job");
  if (id) void openJob(id);
});

// The api hands the page its key (when the operator configured one) in a cookie that
// every later request, image and event stream carries.
async function start(): Promise<void> {
  await fetch("/v1/session", { method: "POST" }).catch(() => undefined);
  renderRecent();
  void loadPresets();
  void loadQualities();
  void loadBounds();
  void loadQueue();
  window.setInterval(() => void loadQueue(), QUEUE_REFRESH_MS);
  const requested = new URLSearchParams(location.search).get("job");
  if (requested) void openJob(requested);
}

void start();
