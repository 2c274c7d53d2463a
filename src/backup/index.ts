/**
 * Backup files: a header, then chunks of the state's key-value pairs, each compressed and
 * encrypted (AES-256-GCM), an end record and a SHA-256 over the whole. Written and read as
 * streams. See README.md for the format and what it protects.
 */
export { BackupError, type BackupErrorCode } from './errors.js';
export { BACKUP_FORMAT_VERSION, type BackupHeader, type BackupMember } from './format.js';
export {
  BACKUP_KEY_BYTES,
  PASSPHRASE_CHARS_MIN,
  SCRYPT_DEFAULTS,
  loadBackupSecret,
  parseKeyFile,
  writeNewKeyFile,
  type BackupSecret,
} from './secret.js';
export { writeBackup, type BackupProgress, type WriteBackupOptions, type WrittenBackup } from './writer.js';
export { openBackup, verifyBackup, verifyBackupReport, type OpenedBackup, type VerifiedBackup } from './reader.js';
