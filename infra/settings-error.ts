/**
 * A deployment setting (CDK context, or a stack property made from one) that cannot be used.
 * The message names the context key; the app's entry point prints it as one line, no stack.
 */
export class SettingsError extends Error {
  override readonly name = "SettingsError";
}
