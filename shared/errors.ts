/**
 * The one base of the errors Sluice raises on purpose: bad input (a catalog, a document, a config), a call
 * a service refused, a task that halts at a document. Each says where and what in its message and most
 * carry a `code`, so a caller can tell Sluice's own failures from a bug (any other error) with one
 * `instanceof SluiceError`.
 */
export class SluiceError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    // Subclasses set their own name too: bundles may rename classes.
    this.name = new.target.name;
  }
}
