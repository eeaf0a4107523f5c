import { describeJournalContract } from "./journal-contract.test-helper.js";
import { memoryJournal } from "./memory-journal.js";

describeJournalContract("memoryJournal", async () => memoryJournal());
