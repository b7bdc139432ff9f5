/**
 * Real Chromium for the browser tests: Debian's `chromium` (never a downloaded browser), driven by
 * playwright-core. `.ci/run` installs the package when it is missing.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext } from "playwright-core";

/** Where Debian's package puts the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags for a quiet headless browser in a container (no sandbox, no GPU, no background traffic). */
const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

function checkInstalled(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no browser at ${CHROMIUM_PATH}: install Debian's chromium package (apt-get install -y chromium; .ci/run does it)`);
  }
}

/** A headless Chromium whose contexts start with empty profiles. */
export async function launchChromium(): Promise<Browser> {
  checkInstalled();
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS });
}

/** A headless Chromium on the profile in `userDataDir` (IndexedDB survives closing it). */
export async function launchPersistent(userDataDir: string): Promise<BrowserContext> {
  checkInstalled();
  return chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM_PATH, headless: true, args: ARGS });
}
