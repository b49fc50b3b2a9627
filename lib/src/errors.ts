/**
 * Error types for mistakes a user can make (bad input, missing files, no network).
 * The CLI prints `UserError`s as one line without a stack trace; everything else is a bug.
 */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An invalid setting, option or environment variable. */
export class ConfigError extends UserError {}

/**
 * A training configuration that needs more memory than this machine (or the tfjs backend's heap) holds;
 * the message says what is needed, what is available and the alternatives.
 */
export class InsufficientMemoryError extends ConfigError {}

/** A file whose contents are not what the format promises (CSV, zip, checkpoint, safetensors). */
export class DataFormatError extends UserError {}

/** A download that failed on every URL tried. */
export class DownloadError extends UserError {}

/** A weight or tensor whose shape differs from the one expected. */
export class ShapeMismatchError extends UserError {}

/** A tfjs backend that was asked for but cannot load. */
export class BackendError extends UserError {}

/** True for errors that should be shown to a user as one clean line. */
export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
