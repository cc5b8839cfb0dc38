/**
 * The management commands: thin calls to a running Herald's API for people without an SDK.
 * Each prints a table or fields for a person, or with `--json` the API's JSON for a script.
 */
import { type Command, Help, type Option } from 'commander';
import { appCommands } from './app.js';
import { attemptCommands } from './attempts.js';
import { endpointCommands } from './endpoint.js';
import { eventTypeCommands } from './event-type.js';
import { listenCommands } from './listen.js';
import { messageCommands } from './message.js';
import { operationalWebhookCommands } from './operational-webhook.js';
import { sourceCommands } from './source.js';

/** Adds every management command to `program`; their help marks required flags. */
export function addManagementCommands(program: Command): void {
  // Commands made from here on inherit this help; commander does not mark required flags itself.
  program.configureHelp({
    visibleOptions(command: Command) {
      const options = Help.prototype.visibleOptions.call(this, command);
      return [...options.filter((o) => o.mandatory), ...options.filter((o) => !o.mandatory)];
    },
    optionDescription(option: Option) {
      const text = Help.prototype.optionDescription.call(this, option);
      return option.mandatory ? `${text} (required)` : text;
    },
  });
  appCommands(program);
  endpointCommands(program);
  messageCommands(program);
  attemptCommands(program);
  sourceCommands(program);
  eventTypeCommands(program);
  listenCommands(program);
  operationalWebhookCommands(program);
}
