// The page in headless Chromium against the real stack that scripts/check/page.sh starts:
// upload, pick, generate, watch (by events, or by polling when they are blocked),
// download; instant jobs and a full job's first picture; defaults and time estimates
// fitted to the workers; errors; cancel; phone width and labels.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { inflateSync } from "node:zlib";
import path from "node:path";
import { launchBrowser } from "../tools/browser.mjs";

const base = process.env.STYLIZE_PAGE_URL ?? "http://127.0.0.1:8096";
const photo = path.join(process.env.STYLIZE_ASSETS ?? "../assets", "content/tubingen.jpg");
const screenshot = process.env.STYLIZE_SCREENSHOT;
const LONG = { timeout: 120_000 };

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => browser?.close());

async function openPage(viewport = { width: 1200, height: 1000 }) {
  const context = await browser.newContext({ acceptDownloads: true, viewport });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.locator(".preset").first().waitFor();
  return page;
}

/** A photo (unless `photoFile` is null), the painting `preset`, and tiny settings in
 * the Advanced fields. */
async function prepare(page, preset, iterations, photoFile = photo) {
  if (photoFile) await page.locator("#content-input").setInputFiles(photoFile);
  await page.locator(`label.preset:has(input[value="${preset}"])`).click();
  await page.locator(".advanced summary").click();
  await page.locator("#exact-size").fill("64");
  await page.locator("#iterations").fill(String(iterations));
}

/** Records every progress value and image address the page shows from now on. */
async function watch(page) {
  await page.evaluate(() => {
    window.seen = { progress: [], images: [] };
    const bar = document.querySelector("#progress");
    const image = document.querySelector("#job-image");
    new MutationObserver(() => {
      const src = image.getAttribute("src");
      if (src) window.seen.images.push(src);
    }).observe(image, { attributes: true, attributeFilter: ["src"] });
    setInterval(() => window.seen.progress.push(bar.value), 20);
  });
}

/** Width, height and pixel bytes of an 8-bit RGB or RGBA PNG, fully inflated. */
function decodePng(bytes) {
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  let offset = 8;
  let header;
  const data = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString("ascii", offset + 4, offset + 8);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") header = { width: body.readUInt32BE(0), height: body.readUInt32BE(4), depth: body[8], colour: body[9] };
    if (type === "IDAT") data.push(body);
    offset += 12 + length;
  }
  assert.ok(header, "an IHDR chunk");
  assert.equal(header.depth, 8);
  const channels = { 2: 3, 6: 4 }[header.colour];
  const pixels = inflateSync(Buffer.concat(data));
  assert.equal(pixels.length, header.height * (1 + header.width * channels), "every row is there");
  return header;
}

test("a photo and a preset become a painting that can be downloaded and revisited", async () => {
  const page = await openPage();
  await prepare(page, "starry-night", 60);
  assert.equal(await page.locator("#content-preview").isVisible(), true);
  await watch(page);
  await page.locator("#generate").click();

  await page.locator("#progress-text", { hasText: "Done." }).waitFor(LONG);
  const seen = await page.evaluate(() => window.seen);
  const moving = seen.progress.filter((value) => value > 0 && value < 100);
  assert.ok(moving.length > 0, `the bar moved: ${seen.progress}`);
  assert.ok(seen.images.some((src) => src.includes("/preview")), `a preview appeared: ${seen.images}`);
  const image = page.locator("#job-image");
  assert.match(await image.getAttribute("src"), /\/result$/);
  await page.waitForFunction(() => document.querySelector("#job-image").naturalWidth === 64);

  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download").click()]);
  const { width, height } = decodePng(await readFile(await download.path()));
  assert.deepEqual([width, height], [64, 48]);

  // The job's own link reopens it, and the recent strip remembers it.
  const link = await page.locator("#permalink").getAttribute("href");
  const again = await page.context().newPage();
  await again.goto(`${base}${link}`);
  await again.locator("#progress-text", { hasText: "Done." }).waitFor(LONG);
  assert.equal(await again.locator("#recent li").count(), 1);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
});

/** Records, in order, each image address and each progress text the page shows from now
 * on (one observer, so the two kinds keep their order). */
async function log(page) {
  await page.evaluate(() => {
    window.shown = [];
    const image = document.querySelector("#job-image");
    const text = document.querySelector("#progress-text");
    new MutationObserver((records) => {
      for (const record of records) {
        if (record.target === image) window.shown.push({ image: image.getAttribute("src") });
        else window.shown.push({ text: text.textContent });
      }
    }).observe(document.querySelector("#job"), { subtree: true, childList: true, characterData: true, attributeFilter: ["src"] });
  });
}

test("an instant job paints the photo in one pass, end to end", async () => {
  const page = await openPage();
  await prepare(page, "udnie", 500);
  await page.locator("label:has(input[name=quality][value=instant])").click();
  await page.locator("#generate").click();
  await page.locator("#progress-text", { hasText: "Done." }).waitFor(LONG);
  assert.match(await page.locator("#job-image").getAttribute("src"), /\/result$/);
  await page.waitForFunction(() => document.querySelector("#job-image").naturalWidth === 64);
  const id = new URL(page.url()).searchParams.get("job");
  const job = await page.evaluate(async (id) => (await fetch(`/v1/jobs/${id}`)).json(), id);
  assert.equal(job.params.mode, "fast", JSON.stringify(job));
  assert.equal(job.progress.phase, "fast", JSON.stringify(job));
});

test("a full job shows its first picture before its first step", async () => {
  const page = await openPage();
  await prepare(page, "great-wave", 4);
  // Large enough that a step takes a while on a CPU, so the order is the page's doing.
  await page.locator("#exact-size").fill("256");
  await log(page);
  await page.locator("#generate").click();
  await page.locator("#progress-text", { hasText: "Done." }).waitFor(LONG);
  const shown = await page.evaluate(() => window.shown);
  const firstPreview = shown.findIndex((entry) => entry.image?.includes("/preview"));
  const firstStep = shown.findIndex((entry) => /step [1-9]/.test(entry.text ?? ""));
  assert.ok(firstPreview >= 0, `a preview appeared: ${JSON.stringify(shown)}`);
  assert.ok(firstStep >= 0, `steps were shown: ${JSON.stringify(shown)}`);
  assert.ok(firstPreview < firstStep, `the preview came first: ${JSON.stringify(shown)}`);
  assert.match(shown[firstPreview].image, /at=0$/, "the first preview is the fast picture");
  // Draft goes from 128 px up to 256 px by √2, and the page says at which scale it is.
  assert.ok(shown.some((entry) => /scale [1-3] of 3, step/.test(entry.text ?? "")), JSON.stringify(shown));
  const id = new URL(page.url()).searchParams.get("job");
  const job = await page.evaluate(async (id) => (await fetch(`/v1/jobs/${id}`)).json(), id);
  assert.equal(job.params.quality, "draft", JSON.stringify(job.params));
});

/** A worker as GET /v1/queue lists it. */
function worker(device, iteration, fastPass) {
  return {
    name: `w-${device}`, device, capacity: 1, running: 0, reported_at: new Date().toISOString(),
    seconds_per_iteration_per_megapixel: iteration, fast_pass_seconds_per_megapixel: fastPass,
  };
}

/** Two qualities as GET /v1/qualities lists them, with round costs. */
const QUALITIES = {
  default: "fine",
  qualities: [
    { name: "draft", params: { iterations: 100, optimizer: "lbfgs", style_weight: 5, style_layers: [] }, full_size_iterations: 50 },
    { name: "fine", params: { iterations: 1000, optimizer: "lbfgs", style_weight: 5, style_layers: [] }, full_size_iterations: 400 },
  ],
};

/** The page with GET /v1/queue answering `workers`, and the qualities above. */
async function openPageServedBy(workers) {
  const context = await browser.newContext();
  await context.route("**/v1/qualities", (route) => route.fulfill({ json: QUALITIES }));
  await context.route("**/v1/queue", (route) => route.fulfill({
    json: { queued: 2, running: 1, workers, throughput: { window_seconds: 3600, succeeded: 0, failed: 0, canceled: 0, mean_run_seconds: null } },
  }));
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.locator("#queue-note", { hasText: "waiting" }).waitFor();
  return page;
}

const estimate = (page, quality) => page.locator(`.estimate[data-quality="${quality}"]`).textContent();
const checkedQuality = (page) => page.locator("input[name=quality]:checked").getAttribute("value");

test("on CPU workers the defaults are 512 px and draft, and each choice shows its time or says it is not known", async () => {
  // This stack's own CPU worker, as the api lists it (tests/tests/queue.rs checks that
  // it does), whether it has timed a job yet or not.
  const page = await openPage();
  await page.locator("#queue-note", { hasText: /^(\d+ workers? \(|No worker is running)/ }).waitFor();
  const { workers } = await page.evaluate(async () => (await fetch("/v1/queue")).json());
  const note = await page.locator("#queue-note").textContent();
  if (workers.length) assert.match(note, /^1 worker \(1 CPU\)/, JSON.stringify(workers));
  else assert.match(note, /^No worker is running/);
  assert.equal(await page.locator("#size").inputValue(), "512");
  assert.equal(await checkedQuality(page), "draft");
  for (const quality of ["instant", "quick", "draft", "fine"]) {
    assert.match(await estimate(page, quality), /^(about \d+(\.\d)? (s|min|h)|under a second|time not known yet)$/);
  }

  // A CPU worker that has timed nothing yet: said plainly.
  const untimed = await openPageServedBy([worker("cpu", null, null)]);
  await untimed.locator("#queue-note", { hasText: "No worker has timed a job yet" }).waitFor();
  assert.equal(await estimate(untimed, "fine"), "time not known yet");
  assert.equal(await checkedQuality(untimed), "draft");

  // 10 s per full-size step per megapixel: draft at 512×384 px is 50 × 10 × 0.196608
  // + 2 × 0.196608 = 98.7 s, fine 400 × 10 × 0.196608 + 0.4 = 787 s.
  const timed = await openPageServedBy([worker("cpu", 10, 2)]);
  await timed.locator(".estimate[data-quality=\"fine\"]", { hasText: "about" }).waitFor();
  assert.equal(await estimate(timed, "fine"), "about 13 min");
  assert.equal(await estimate(timed, "draft"), "about 2 min");
  assert.equal(await estimate(timed, "instant"), "under a second");
  // Steps given by hand keep the quality's mix: 20 of draft's 100 cost 10 full-size ones.
  await timed.locator(".advanced summary").click();
  await timed.locator("#iterations").fill("20");
  await timed.locator("#size").selectOption("1024");
  assert.equal(await estimate(timed, "instant"), "about 2 s");
  // 10 × 10 × 0.786432 + 2 × 0.786432 = 80.2 s
  assert.equal(await estimate(timed, "draft"), "about 80 s");
});

test("with a GPU worker the defaults are the full ones, unless the person chose", async () => {
  const page = await openPageServedBy([worker("cuda:0", 0.5, 0.05), worker("cpu", null, null)]);
  await page.locator("#queue-note", { hasText: "1 GPU, 1 CPU" }).waitFor();
  assert.equal(await page.locator("#size").inputValue(), "1024");
  assert.equal(await checkedQuality(page), "fine");
  // 400 × 0.5 × (1024 × 768 / 1e6) + 0.05 × 0.786432 = 157.3 s
  assert.equal(await estimate(page, "fine"), "about 3 min");
});

test("with server-sent events blocked, polling shows the progress and the preview as it forms", async () => {
  const page = await openPage();
  let blocked = 0;
  await page.route("**/v1/jobs/*/events", (route) => {
    blocked += 1;
    return route.abort();
  });
  await prepare(page, "starry-night", 150);
  await watch(page);
  await page.locator("#generate").click();

  await page.locator("#progress-text", { hasText: "Done." }).waitFor(LONG);
  assert.ok(blocked > 0, "the page asked for its event stream");
  const seen = await page.evaluate(() => window.seen);
  const moving = seen.progress.filter((value) => value > 0 && value < 100);
  assert.ok(moving.length > 0, `the bar moved: ${seen.progress}`);
  assert.ok(seen.images.some((src) => src.includes("/preview")), `a preview appeared: ${seen.images}`);
  assert.match(await page.locator("#job-image").getAttribute("src"), /\/result$/);
});

test("a photo given by its web address becomes a painting; internal addresses are refused", async () => {
  // An origin on 127.0.0.2, which scripts/check/page.sh lets the api fetch from
  // (fetch.allowed_networks); 127.0.0.1 stays refused like every internal address.
  const bytes = await readFile(photo);
  const origin = createServer((request, response) => {
    response.writeHead(200, { "content-type": "image/jpeg" }).end(bytes);
  });
  await new Promise((resolve) => origin.listen(0, "127.0.0.2", resolve));
  try {
    const page = await openPage();
    await prepare(page, "udnie", 10, null);
    await page.locator("#content-url").fill("ftp://127.0.0.2/photo.jpg");
    await page.locator("#generate").click();
    await page.locator("#content-error", { hasText: "must be a web address" }).waitFor();

    await page.locator("#content-url").fill("http://127.0.0.1:9/photo.jpg");
    await page.locator("#generate").click();
    await page.locator("#form-error", { hasText: "not fetched" }).waitFor();
    assert.equal(await page.locator("#job").isVisible(), false);

    await page.locator("#content-url").fill(`http://127.0.0.2:${origin.address().port}/photo.jpg`);
    await page.locator("#generate").click();
    await page.locator("#progress-text", { hasText: "Done." }).waitFor(LONG);
    await page.waitForFunction(() => document.querySelector("#job-image").naturalWidth === 64);
  } finally {
    origin.close();
  }
});

test("files that are not images get a clear error, from the page or from the api", async () => {
  const page = await openPage();
  const text = Buffer.from("hello, I am text");
  await page.locator("#content-input").setInputFiles({ name: "notes.txt", mimeType: "text/plain", buffer: text });
  await page.locator("#content-error", { hasText: "notes.txt is not a JPEG, PNG or WebP image" }).waitFor();

  // A text file that claims to be a JPEG passes the page's check; the api's answer shows.
  await page.locator("#content-input").setInputFiles({ name: "photo.jpg", mimeType: "image/jpeg", buffer: text });
  await page.locator("#generate").click();
  await page.locator("#form-error", { hasText: "unsupported image format" }).waitFor();
  assert.equal(await page.locator("#job").isVisible(), false);
});

test("a running job can be canceled from the page", async () => {
  const page = await openPage();
  await prepare(page, "the-scream", 5000);
  await page.locator("#generate").click();
  await page.waitForFunction(() => document.querySelector("#progress").value > 0, null, LONG);
  await page.locator("#cancel").click();
  await page.locator("#progress-text", { hasText: "Canceled." }).waitFor(LONG);
  assert.equal(await page.locator("#download").isVisible(), false);
});

test("the number inputs take the api's own bounds from its document", async () => {
  const page = await openPage();
  const size = page.locator("#exact-size");
  await page.waitForFunction(() => document.getElementById("iterations").max !== "");
  const { components } = await page.evaluate(async () => (await fetch("/openapi.json")).json());
  const { size: sizeBound, iterations } = components.schemas.StyleParams.properties;
  assert.deepEqual(
    [await size.getAttribute("min"), await size.getAttribute("max")],
    [String(sizeBound.minimum), String(sizeBound.maximum)],
  );
  assert.deepEqual([sizeBound.minimum, sizeBound.maximum, iterations.maximum], [16, 2048, 10000]);
  assert.equal(await page.locator("#iterations").getAttribute("min"), "1");
});

test("the page fits a phone and every control has a name", async () => {
  const page = await openPage({ width: 375, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `wider than the screen by ${overflow}px`);
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, button")]
      .filter((control) => !(control.labels?.length || control.getAttribute("aria-label") || control.textContent.trim()))
      .map((control) => control.id || control.outerHTML));
  assert.deepEqual(unnamed, []);
  const bare = await page.locator("img:not([alt])").count();
  assert.equal(bare, 0, "every image has alt text");
  // The keyboard goes from the photo to its address field, then to the first painting.
  await page.locator("#content-input").focus();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "content-url");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.name), "preset");
});
