import type { StepHandler } from 'joinflow/handler';

type Input = { image?: string; labels?: string[] } | null;

/** A small, quick step: fits Lambda. */
export const thumbnail: StepHandler<Input> = async (event) => ({ thumbnail: `thumb-${event.input?.image ?? 'none'}` });

/** The GPU step (on the embedded engine its local script runs instead; this is the same logic). */
export const detect: StepHandler<Input> = async (event) => ({ boxes: (event.input?.labels ?? []).length * 2, device: 'handler' });

/** The long step: indexes the labels. */
export const index: StepHandler<Input> = async (event) => ({ terms: [...new Set(event.input?.labels ?? [])].sort() });

/** Joins the three. */
export const summarize: StepHandler<Input> = async (event) => {
  const r = event.results as { thumbnail: { thumbnail: string }; detect: { boxes: number; device: string }; index: { terms: string[] } };
  return { thumbnail: r.thumbnail.thumbnail, boxes: r.detect.boxes, device: r.detect.device, terms: r.index.terms.length };
};
