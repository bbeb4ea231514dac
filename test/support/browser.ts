import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Debian's Chromium (`apt-get install chromium`); the tests never download a browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Where screenshots and console logs of the browser scenarios go (gitignored). */
export const ARTIFACTS_DIR = new URL("../../artifacts/e2e/", import.meta.url).pathname;

/**
 * The skip reason for browser suites: outside CI a machine without Chromium skips them with this
 * message; in CI (CI set) nothing is skipped, so a missing browser fails the launch loudly.
 */
export const withoutChromium: string | false =
  !existsSync(CHROMIUM_PATH) && !process.env.CI
    ? `${CHROMIUM_PATH} not found: install Debian's chromium (apt-get install -y chromium) to run the browser tests`
    : false;

export interface RunningBrowser {
  readonly browser: Browser;
  close(): Promise<void>;
}

/**
 * Headless Chromium with the flags that work as root here and accept the tests' self-signed
 * certificates. playwright-core gives it a fresh temporary profile of its own.
 */
export async function launchChromium(): Promise<RunningBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--ignore-certificate-errors",
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}

export interface ScenarioPages {
  /** Opens a page in the scenario's browser context; its console is recorded. */
  open(url: string): Promise<Page>;
  readonly context: BrowserContext;
}

/**
 * Runs one browser scenario in its own context. Each page's screenshot is saved as
 * artifacts/e2e/<name>[-n].png whatever the outcome; when the scenario fails, the pages'
 * console output is saved beside it as <name>.console.log.
 */
export async function scenario(browser: Browser, name: string, run: (pages: ScenarioPages) => Promise<void>): Promise<void> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ignoreHTTPSErrors: true });
  const consoleLines: string[] = [];
  const pages: Page[] = [];
  const open = async (url: string): Promise<Page> => {
    const page = await context.newPage();
    const label = `page ${pages.length + 1}`;
    pages.push(page);
    page.on("console", (message) => consoleLines.push(`${new Date().toISOString()} ${label} ${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => consoleLines.push(`${new Date().toISOString()} ${label} pageerror: ${error.message}`));
    page.on("requestfailed", (request) => consoleLines.push(`${new Date().toISOString()} ${label} requestfailed: ${request.url()} ${request.failure()?.errorText}`));
    await page.goto(url);
    return page;
  };
  try {
    await run({ open, context });
  } catch (error) {
    writeFileSync(join(ARTIFACTS_DIR, `${name}.console.log`), `${consoleLines.join("\n")}\n`);
    throw error;
  } finally {
    for (const [index, page] of pages.entries()) {
      const suffix = pages.length > 1 ? `-${index + 1}` : "";
      await page.screenshot({ path: join(ARTIFACTS_DIR, `${name}${suffix}.png`), fullPage: true }).catch(() => undefined);
    }
    await context.close();
  }
}

/** The demo page's test surface (src/http/demo/demo.js, window.demo). */
export interface DemoState {
  readonly events: { id: string; type: string; data: unknown }[];
  readonly controls: { type: string; data: any; at: number }[];
  /** When each stream opened (ms since the epoch, the browser's clock). */
  readonly openedAt: number[];
  readonly reconnects: number;
  readonly opens: number;
  readonly state: string;
  readonly lastEventId: string;
}

export function demoState(page: Page): Promise<DemoState> {
  return page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { demo: unknown }).demo)) as DemoState);
}

/** Polls the page's demo state until the condition holds; the error says what the page had. */
export async function waitForDemo(page: Page, condition: (state: DemoState) => boolean, what: string, timeoutMs = 10_000): Promise<DemoState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await demoState(page);
    if (condition(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the page had ${JSON.stringify({ ...state, events: state.events.map((event) => event.id) })}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
