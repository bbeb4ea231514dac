/** Why a request was refused, in words a developer can act on; `code` is stable for programs. */
export class AuthError extends Error {
  override readonly name = "AuthError";
  readonly status: 401 | 403;
  readonly code: string;

  constructor(status: 401 | 403, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
