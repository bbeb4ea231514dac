/**
 * A small log-log line chart as standalone SVG text: the harness draws its own figures so that
 * the benchmark needs no plotting tool.
 */
export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** Drawn hollow: the server did not keep up at this point. */
  readonly saturated?: boolean;
}

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  readonly points: readonly ChartPoint[];
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
}

const WIDTH = 640;
const HEIGHT = 400;
const MARGIN = { left: 70, right: 150, top: 40, bottom: 55 };

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Powers of ten spanning the values, so every axis has whole decades. */
function decades(values: readonly number[]): [number, number] {
  const positive = values.filter((value) => value > 0 && Number.isFinite(value));
  if (positive.length === 0) return [0, 1];
  const low = Math.floor(Math.log10(Math.min(...positive)));
  const high = Math.ceil(Math.log10(Math.max(...positive)));
  return [low, high === low ? low + 1 : high];
}

/** Ticks at 1, 2 and 5 of every decade from 10^low to 10^high. */
function ticks(low: number, high: number): number[] {
  const values: number[] = [];
  for (let exponent = low; exponent <= high; exponent++) {
    for (const mantissa of [1, 2, 5]) {
      const value = mantissa * 10 ** exponent;
      if (value <= 10 ** high * 1.0001) values.push(value);
    }
  }
  return values;
}

function tickLabel(value: number): string {
  return value >= 1 ? value.toLocaleString("en-US") : String(Number(value.toPrecision(1)));
}

function isDecade(value: number): boolean {
  return Math.abs(Math.log10(value) - Math.round(Math.log10(value))) < 1e-9;
}

export function renderChart(spec: ChartSpec): string {
  const points = spec.series.flatMap((series) => series.points).filter((point) => point.x > 0 && point.y > 0 && Number.isFinite(point.y));
  const [xLow, xHigh] = decades(points.map((point) => point.x));
  const [yLow, yHigh] = decades(points.map((point) => point.y));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xOf = (x: number): number => MARGIN.left + ((Math.log10(x) - xLow) / (xHigh - xLow)) * plotWidth;
  const yOf = (y: number): number => MARGIN.top + plotHeight - ((Math.log10(y) - yLow) / (yHigh - yLow)) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  for (const value of ticks(xLow, xHigh)) {
    const x = xOf(value).toFixed(1);
    parts.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotHeight}" stroke="${isDecade(value) ? "#ccc" : "#eee"}"/>`);
    parts.push(`<text x="${x}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle">${tickLabel(value)}</text>`);
  }
  for (const value of ticks(yLow, yHigh)) {
    const y = yOf(value).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotWidth}" y2="${y}" stroke="${isDecade(value) ? "#ccc" : "#eee"}"/>`);
    parts.push(`<text x="${MARGIN.left - 8}" y="${Number(y) + 4}" text-anchor="end">${tickLabel(value)}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  parts.push(
    `<text x="18" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${MARGIN.top + plotHeight / 2})">${escapeXml(spec.yLabel)}</text>`,
  );
  spec.series.forEach((series, index) => {
    const drawn = series.points.filter((point) => point.x > 0 && point.y > 0 && Number.isFinite(point.y));
    if (drawn.length > 1) {
      const path = drawn.map((point) => `${xOf(point.x).toFixed(1)},${yOf(point.y).toFixed(1)}`).join(" ");
      parts.push(`<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2"/>`);
    }
    for (const point of drawn) {
      const fill = point.saturated ? "white" : series.color;
      parts.push(`<circle cx="${xOf(point.x).toFixed(1)}" cy="${yOf(point.y).toFixed(1)}" r="4" fill="${fill}" stroke="${series.color}" stroke-width="2"/>`);
    }
    const legendY = MARGIN.top + 10 + index * 20;
    const legendX = MARGIN.left + plotWidth + 15;
    parts.push(`<line x1="${legendX}" y1="${legendY}" x2="${legendX + 20}" y2="${legendY}" stroke="${series.color}" stroke-width="2"/>`);
    parts.push(`<text x="${legendX + 26}" y="${legendY + 4}">${escapeXml(series.name)}</text>`);
  });
  const noteY = MARGIN.top + 10 + spec.series.length * 20 + 10;
  parts.push(`<text x="${MARGIN.left + plotWidth + 15}" y="${noteY}" font-size="10" fill="#555">hollow: saturated</text>`);
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
