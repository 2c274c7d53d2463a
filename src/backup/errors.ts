/** The one error class of backup files, with a stable code per condition. */

/**
 * - `wrongKey`: the key or passphrase does not open this file (or is of the other kind).
 * - `truncated`: the file ends before its end record and checksum.
 * - `tampered`: a byte was changed (the header, a chunk, the end record or the checksum).
 * - `notABackup`: not a sessionraft backup at all (no magic).
 * - `unsupportedVersion`: an intact backup of a newer format than this sessionraft reads.
 * - `io`: the file could not be read or written.
 */
export type BackupErrorCode = 'wrongKey' | 'truncated' | 'tampered' | 'notABackup' | 'unsupportedVersion' | 'io';

export class BackupError extends Error {
  constructor(
    readonly code: BackupErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackupError';
  }
}
