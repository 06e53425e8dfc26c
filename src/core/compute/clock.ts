/** The time as the compute store keeps it (ISO 8601, UTC, milliseconds). */
export const now = () => new Date().toISOString();
