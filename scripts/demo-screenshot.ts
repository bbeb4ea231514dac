// Makes docs/demo.png, the README's picture of the demo page: a development-mode gateway, the
// page in Debian's Chromium, a few events published while it is open.
// Run: node scripts/demo-screenshot.ts
import { launchChromium, waitForDemo } from "../test/support/browser.ts";
import { startDevGateway } from "../test/support/dev-gateway.ts";
import { publish } from "../test/support/gateway.ts";

const OUTPUT = new URL("../docs/demo.png", import.meta.url).pathname;

const gateway = await startDevGateway();
const chromium = await launchChromium();
try {
  const page = await chromium.browser.newPage({ viewport: { width: 1040, height: 690 } });
  await page.goto(`${gateway.url}/?sub=alice&topics=news,orders.42&types=greeting,headline,order.shipped`);
  await waitForDemo(page, (state) => state.state === "open", "the stream to open");
  const token = await gateway.publisherToken();
  const events = [
    { topics: ["news"], type: "headline", data: { title: "Gateway 1.0 released" } },
    { users: ["alice"], type: "greeting", data: { hello: "alice" } },
    { topics: ["orders.42"], type: "order.shipped", data: { order: 42, carrier: "DHL" } },
  ];
  for (const event of events) {
    await publish(gateway.url, event, token);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await page.fill("#pub-data", '{"hello":"from the form"}');
  await page.click("#publish");
  await waitForDemo(page, (state) => state.events.length === events.length + 1, "all events");
  await page.screenshot({ path: OUTPUT });
  process.stdout.write(`wrote ${OUTPUT}\n`);
} finally {
  await chromium.close();
  await gateway.stop();
}
