/** Lua shared by the bus's scripts. */

/** `callEach(command, key, values)`: the command with each value as an argument, in calls of 1,000 (Lua's unpack stops at 8,000). */
export const CALL_EACH_LUA = `
local function callEach(command, key, values)
  for c = 1, #values, 1000 do rcall(command, key, unpack(values, c, math.min(c + 999, #values))) end
end
`;
