// The engine's version, as every result records it (provenance): the package's own.

import pkg from '../../package.json';

export const ENGINE_VERSION: string = `dtd-lens ${pkg.version}`;
