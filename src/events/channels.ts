/**
 * A channel is what a stream listens to and what an event is addressed to: a user's private
 * channel or a named topic. The prefixes keep the two name spaces apart, so a topic can never
 * be named like somebody's private channel.
 */
export const USER_PREFIX = "u:";
export const TOPIC_PREFIX = "t:";

export function userChannel(userId: string): string {
  return USER_PREFIX + userId;
}

export function topicChannel(topic: string): string {
  return TOPIC_PREFIX + topic;
}

/** Topic names: letters, digits and . _ - / ; at most 200 characters. */
export const TOPIC_NAME_PATTERN = "^[A-Za-z0-9._/-]{1,200}$";
export const TOPIC_NAME_RULE = "1 to 200 letters, digits or . _ - /";
/** User ids come from token subjects: any printable text without control characters. */
export const USER_ID_PATTERN = "^[^\\u0000-\\u001f\\u007f]{1,256}$";
export const USER_ID_RULE = "1 to 256 characters without control characters";
