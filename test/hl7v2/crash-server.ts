// A Haven server (startServer, as `haven serve` runs it) whose HL7 v2 converter
// is the test's, for the crash test: the declarative converter is a colleague's
// and may not be wired yet. Run as a child process and killed with SIGKILL.
import { createLogger } from '../../src/app/logger.js';
import { startServer } from '../../src/app/server.js';
import { loadConfig } from '../../src/config/index.js';
import { testConverter } from './mllp-support.js';

const config = loadConfig();
const logger = createLogger(config.log.level);
const server = await startServer(config, logger, { hl7: { converter: testConverter() } });
logger.info({ url: server.url, mllp: server.mllp }, 'Haven is ready');
process.once('SIGTERM', () => {
  void server.stop().then(() => process.exit(0));
});
