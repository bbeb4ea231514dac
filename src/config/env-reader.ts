/** A configuration value that is wrong: names the variable and what was expected. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Readonly<Record<string, string | undefined>>;

/** Typed readers over the environment; empty strings count as unset. */
export class EnvReader {
  readonly #env: Env;

  constructor(env: Env) {
    this.#env = env;
  }

  string(name: string): string | undefined {
    const value = this.#env[name]?.trim();
    return value === "" ? undefined : value;
  }

  integer(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${text}"`);
    }
    return value;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const text = this.string(name);
    if (text === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(text)) {
      throw new ConfigError(`${name} must be one of ${allowed.join(", ")}, got "${text}"`);
    }
    return text as T;
  }

  list(name: string): string[] {
    return (this.string(name) ?? "").split(",").map((item) => item.trim()).filter((item) => item !== "");
  }

  url(name: string, protocols: readonly string[]): URL | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConfigError(`${name} must be a URL, got "${redactUrl(text)}"`);
    }
    if (!protocols.includes(url.protocol)) {
      throw new ConfigError(`${name} must be a ${protocols.join(" or ")} URL, got "${redactUrl(text)}"`);
    }
    return url;
  }
}

/** Keeps passwords in URLs out of error messages and logs. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/([^/@]*)@/, "//***@");
}
