/** A PostgreSQL database of its own (a test's, a benchmark's), made through `adminUrl`, and its removal. */
export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * Create a database named `<prefix>_<random>` on the server `adminUrl` names (any database
 * there that the user may CREATE DATABASE from); drop() removes it, its connections forced off.
 */
export async function scratchDatabase(adminUrl: string, prefix = 'pocketstack_test'): Promise<ScratchDatabase> {
  const pg = (await import('pg')).default;
  const name = `${prefix}_${Math.random().toString(16).slice(2, 10)}`;
  const onAdmin = async (statement: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(statement);
    } finally {
      await c.end();
    }
  };
  await onAdmin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => onAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
