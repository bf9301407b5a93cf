// The engine's version, as every result records it (provenance): the package's own.

import pkg from '../../package.json';

export const PACKAGE_VERSION: string = pkg.version;
export const ENGINE_VERSION = `dtd-lens ${PACKAGE_VERSION}`;
