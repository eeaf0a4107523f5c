import { describeAccessContract } from "./access-contract.test-helper.js";
import { memoryAccessStore } from "./memory-access.js";

describeAccessContract("memoryAccessStore", async () => ({ access: memoryAccessStore() }));
