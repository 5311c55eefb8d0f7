-- wrk script: GET /v1/match with PDQ queries drawn at random from $QUERIES, key from $KEY.
local queries = {}
for line in io.lines(os.getenv("QUERIES")) do
  queries[#queries + 1] = line
end
local auth = { ["Authorization"] = "Bearer " .. os.getenv("KEY") }
math.randomseed(1)
request = function()
  local q = queries[math.random(#queries)]
  return wrk.format("GET", "/v1/match?signal_type=pdq&value=" .. q, auth)
end
