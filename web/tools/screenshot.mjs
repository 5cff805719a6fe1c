// The README's screenshot: the page at STYLIZE_PAGE_URL painting the sample photo with
// a preset at a size people use, captured once the painting is done. Run by
// scripts/screenshot.sh, which starts the stack; not a test.
import path from "node:path";
import { launchBrowser } from "./browser.mjs";

const base = process.env.STYLIZE_PAGE_URL ?? "http://127.0.0.1:8097";
const photo = path.join(process.env.STYLIZE_ASSETS ?? "../assets", "content/tubingen.jpg");
const output = process.env.STYLIZE_SCREENSHOT ?? "page.png";
const preset = process.env.PRESET ?? "starry-night";
const quality = process.env.QUALITY ?? "quick";

const browser = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  await page.goto(`${base}/`);
  await page.locator(".preset").first().waitFor();
  await page.locator("#content-input").setInputFiles(photo);
  await page.locator(`label.preset:has(input[value="${preset}"])`).click();
  await page.locator(`input[name="quality"][value="${quality}"]`).check();
  await page.locator("#generate").click();
  // A painting takes minutes on two CPU cores.
  await page.locator("#progress-text", { hasText: "Done." }).waitFor({ timeout: 900_000 });
  await page.waitForFunction(() => document.querySelector("#job-image").naturalWidth > 0);
  await page.screenshot({ path: output, fullPage: true });
  console.log(`screenshot: ${output}`);
} finally {
  await browser.close();
}
