/** An error the user can cause and fix: bad key, bad shape, unknown version, ... */
export class BendingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BendingError";
  }
}
