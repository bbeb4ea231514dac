/** The SSE writers compared for fastify's hot path. */
export const WRITER_VARIANTS = ["@fastify/sse", "fastify-sse-v2", "raw-chunked", "raw-close"] as const;
export type WriterVariant = (typeof WRITER_VARIANTS)[number];

export const WRITER_DESCRIPTIONS: Record<WriterVariant, string> = {
  "@fastify/sse": "@fastify/sse `reply.sse.send({ data })` per stream",
  "fastify-sse-v2": "fastify-sse-v2 `reply.sse({ data })` per stream",
  "raw-chunked": "hand-written: one frame, `reply.raw.write` (chunked body)",
  "raw-close": "hand-written: one frame, socket writes (close-delimited body)",
};

export function writerVariant(name: string | undefined): WriterVariant {
  const found = WRITER_VARIANTS.find((variant) => variant === name);
  if (!found) throw new Error(`unknown SSE writer "${name}"; one of ${WRITER_VARIANTS.join(", ")}`);
  return found;
}
