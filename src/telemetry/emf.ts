/**
 * CloudWatch Embedded Metric Format: one JSON line on stdout that CloudWatch Logs turns into a
 * metric, so ECS can scale on open streams per task without an agent or API calls.
 */
export function startEmfReporter(
  options: { readonly namespace: string; readonly serviceName: string },
  openStreams: () => number,
  write: (line: string) => void = (line) => process.stdout.write(line),
  intervalMs = 60_000,
): NodeJS.Timeout {
  const timer = setInterval(() => write(emfLine(options, openStreams(), Date.now())), intervalMs);
  timer.unref();
  return timer;
}

export function emfLine(options: { readonly namespace: string; readonly serviceName: string }, openStreams: number, now: number): string {
  return `${JSON.stringify({
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        { Namespace: options.namespace, Dimensions: [["ServiceName"]], Metrics: [{ Name: "OpenStreams", Unit: "Count" }] },
      ],
    },
    ServiceName: options.serviceName,
    OpenStreams: openStreams,
  })}\n`;
}
