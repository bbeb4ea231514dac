import { ALL_EVENTS_CHANNEL } from "../bus/event-bus.ts";
import { idFrame } from "../hub/frames.ts";
import type { StreamView } from "../hub/stream-view.ts";
import { anyMatches, type Selector } from "./selectors.ts";
import { deliveredUpdate, generatedId, mercureChannel } from "./update.ts";

/**
 * The channels a subscription listens to: its topics' own channels when every selector is an
 * exact topic; otherwise (a template, `*`) every event, filtered by the view. An instance with
 * no such subscription does not receive every event.
 */
export function subscriptionChannels(selectors: readonly Selector[]): string[] {
  return selectors.every((candidate) => candidate.exact) ? [...new Set(selectors.map((candidate) => mercureChannel(candidate.text)))] : [ALL_EVENTS_CHANNEL];
}

/**
 * What one subscriber receives: the Mercure updates one of whose topics matches one of its
 * selectors; a private one only when its token's `mercure.subscribe` selectors match one of the
 * update's topics too. Decided at delivery from what the event carries.
 */
export function subscriptionView(selectors: readonly Selector[], privateSelectors: readonly Selector[]): StreamView {
  return {
    accepts(event) {
      const delivered = deliveredUpdate(event);
      if (!delivered || !anyMatches(selectors, delivered.update.topics)) return false;
      return !delivered.update.private || anyMatches(privateSelectors, delivered.update.topics);
    },
    frame: (event) => deliveredUpdate(event)!.frame,
    // An event with an id and no data is not dispatched, but it moves the EventSource's
    // Last-Event-ID to where the stream goes on: a reconnect resumes from there, not from the gap.
    gapFrame: (head) => idFrame(generatedId(head)),
    positionFrame: (position) => idFrame(generatedId(position)),
  };
}
