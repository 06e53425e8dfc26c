/**
 * Nova's instance state machine (nova/compute/vm_states.py, task_states.py, power_state.py) and
 * the API `status` they map to (nova/api/openstack/common.py _STATE_MAP).
 */

export const VM = {
  ACTIVE: 'active',
  BUILDING: 'building',
  PAUSED: 'paused',
  SUSPENDED: 'suspended',
  STOPPED: 'stopped',
  RESCUED: 'rescued',
  RESIZED: 'resized',
  SOFT_DELETED: 'soft-delete',
  DELETED: 'deleted',
  ERROR: 'error',
  SHELVED: 'shelved',
  SHELVED_OFFLOADED: 'shelved_offloaded',
} as const;

export const TASK = {
  SCHEDULING: 'scheduling',
  NETWORKING: 'networking',
  SPAWNING: 'spawning',
  IMAGE_SNAPSHOT: 'image_snapshot',
  IMAGE_SNAPSHOT_PENDING: 'image_snapshot_pending',
  IMAGE_PENDING_UPLOAD: 'image_pending_upload',
  IMAGE_UPLOADING: 'image_uploading',
  IMAGE_BACKUP: 'image_backup',
  UPDATING_PASSWORD: 'updating_password',
  RESIZE_PREP: 'resize_prep',
  RESIZE_MIGRATING: 'resize_migrating',
  RESIZE_MIGRATED: 'resize_migrated',
  RESIZE_FINISH: 'resize_finish',
  RESIZE_REVERTING: 'resize_reverting',
  RESIZE_CONFIRMING: 'resize_confirming',
  REBOOTING: 'rebooting',
  REBOOT_PENDING: 'reboot_pending',
  REBOOT_STARTED: 'reboot_started',
  REBOOTING_HARD: 'rebooting_hard',
  REBOOT_PENDING_HARD: 'reboot_pending_hard',
  REBOOT_STARTED_HARD: 'reboot_started_hard',
  PAUSING: 'pausing',
  UNPAUSING: 'unpausing',
  SUSPENDING: 'suspending',
  RESUMING: 'resuming',
  POWERING_OFF: 'powering-off',
  POWERING_ON: 'powering-on',
  RESCUING: 'rescuing',
  UNRESCUING: 'unrescuing',
  REBUILDING: 'rebuilding',
  REBUILD_BLOCK_DEVICE_MAPPING: 'rebuild_block_device_mapping',
  REBUILD_SPAWNING: 'rebuild_spawning',
  MIGRATING: 'migrating',
  DELETING: 'deleting',
  SOFT_DELETING: 'soft-deleting',
  RESTORING: 'restoring',
  SHELVING: 'shelving',
  SHELVING_IMAGE_PENDING_UPLOAD: 'shelving_image_pending_upload',
  SHELVING_IMAGE_UPLOADING: 'shelving_image_uploading',
  SHELVING_OFFLOADING: 'shelving_offloading',
  UNSHELVING: 'unshelving',
} as const;

/** Nova's power_state integers. */
export const POWER = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;

/** vm_states.ALLOW_HARD_REBOOT and task_states.ALLOW_REBOOT. */
export const ALLOW_SOFT_REBOOT: readonly string[] = [VM.ACTIVE];
export const ALLOW_HARD_REBOOT: readonly string[] = [VM.ACTIVE, VM.STOPPED, VM.PAUSED, VM.SUSPENDED, VM.ERROR];
export const ALLOW_REBOOT_TASKS: ReadonlyArray<string | null> = [
  null,
  TASK.REBOOTING,
  TASK.REBOOT_PENDING,
  TASK.REBOOT_STARTED,
  TASK.RESUMING,
  TASK.REBOOTING_HARD,
  TASK.UNPAUSING,
  TASK.PAUSING,
  TASK.SUSPENDING,
];
/** vm_states.ALLOW_TRIGGER_CRASH_DUMP. */
export const ALLOW_TRIGGER_CRASH_DUMP: readonly string[] = [VM.ACTIVE, VM.PAUSED, VM.RESCUED, VM.RESIZED, VM.ERROR];

const REBUILD = { rebuilding: 'REBUILD', rebuild_block_device_mapping: 'REBUILD', rebuild_spawning: 'REBUILD' };
const RESIZE = { resize_prep: 'RESIZE', resize_migrating: 'RESIZE', resize_migrated: 'RESIZE', resize_finish: 'RESIZE' };

/** Nova's _STATE_MAP (a Map: statuses are looked up by what a client sends). */
const STATE_MAP = new Map<string, Record<string, string>>([
  [
    VM.ACTIVE,
    {
      default: 'ACTIVE',
      rebooting: 'REBOOT',
      reboot_pending: 'REBOOT',
      reboot_started: 'REBOOT',
      rebooting_hard: 'HARD_REBOOT',
      reboot_pending_hard: 'HARD_REBOOT',
      reboot_started_hard: 'HARD_REBOOT',
      updating_password: 'PASSWORD',
      ...REBUILD,
      migrating: 'MIGRATING',
      ...RESIZE,
    },
  ],
  [VM.BUILDING, { default: 'BUILD' }],
  [VM.STOPPED, { default: 'SHUTOFF', ...RESIZE, ...REBUILD }],
  [VM.RESIZED, { default: 'VERIFY_RESIZE', resize_reverting: 'REVERT_RESIZE' }],
  [VM.PAUSED, { default: 'PAUSED', migrating: 'MIGRATING' }],
  [VM.SUSPENDED, { default: 'SUSPENDED' }],
  [VM.RESCUED, { default: 'RESCUE' }],
  [VM.ERROR, { default: 'ERROR', ...REBUILD }],
  [VM.DELETED, { default: 'DELETED' }],
  [VM.SOFT_DELETED, { default: 'SOFT_DELETED' }],
  [VM.SHELVED, { default: 'SHELVED' }],
  [VM.SHELVED_OFFLOADED, { default: 'SHELVED_OFFLOADED' }],
]);

/** The API `status` of an instance (common.status_from_state). */
export function statusOf(vmState: string, taskState: string | null): string {
  const m = STATE_MAP.get(vmState);
  if (!m) return 'UNKNOWN';
  return (taskState !== null && Object.hasOwn(m, taskState) && m[taskState]) || m.default;
}

/** `?status=` values → the (vm_state, task_state) pairs they stand for; empty when none match. */
export function statesOfStatuses(statuses: string[]): Array<{ vm: string; task: string | 'default' }> {
  const wanted = new Set(statuses.map((s) => s.toLowerCase()));
  const out: Array<{ vm: string; task: string }> = [];
  for (const [vm, tasks] of STATE_MAP) {
    for (const [task, status] of Object.entries(tasks)) if (wanted.has(status.toLowerCase())) out.push({ vm, task });
  }
  return out;
}

/**
 * What an instance host is asked to make of an instance (servers.power_desired): running, stopped,
 * or running but frozen (`paused`: Nova's pause keeps the guest in memory; `suspended`: libvirt's
 * managed save keeps it on disk).
 */
export type DesiredPower = 'running' | 'stopped' | 'paused' | 'suspended';
