// The surface of brittle 4 the tests use (@types/brittle targets brittle 3).
declare module 'brittle' {
  export interface Assertion {
    is(actual: unknown, expected: unknown, message?: string): void
    not(actual: unknown, expected: unknown, message?: string): void
    ok(value: unknown, message?: string): void
    absent(value: unknown, message?: string): void
    alike(actual: unknown, expected: unknown, message?: string): void
    unlike(actual: unknown, expected: unknown, message?: string): void
    pass(message?: string): void
    fail(message?: string): void
    comment(...message: unknown[]): void
    /** Native errors (TypeError, RangeError, …) are rethrown; `exception.all` accepts them too. */
    exception: ExceptionAssertion & { all: ExceptionAssertion }
    execution(fn: (() => unknown) | Promise<unknown>, message?: string): Promise<void>
    plan(n: number): void
    timeout(ms: number): void
    teardown(fn: () => unknown, opts?: { order?: number }): void
    tmp(): Promise<string>
  }
  type ExceptionAssertion = (fn: (() => unknown) | Promise<unknown>, expected?: unknown, message?: string) => Promise<void>
  export interface TestOptions {
    timeout?: number
    solo?: boolean
    skip?: boolean
  }
  type TestFn = (t: Assertion) => unknown
  interface TestEntry {
    (name: string, fn: TestFn): Promise<void>
    (name: string, opts: TestOptions, fn: TestFn): Promise<void>
  }
  const test: TestEntry & { solo: TestEntry; skip: TestEntry; test: TestEntry; configure(opts: { timeout?: number; bail?: boolean }): void }
  export const solo: TestEntry
  export const configure: (opts: { timeout?: number; bail?: boolean }) => void
  export default test
}
