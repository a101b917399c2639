// Types of build.mjs for the TypeScript callers (the e2e harness).
export declare const suiteOutDir: string;
export declare const suiteIndex: string;
export declare function buildSuite(): Promise<string>;
