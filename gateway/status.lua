-- REST status codes the gRPC-JSON transcoder cannot express by itself.
--
-- This filter sits BEFORE the transcoder, so on the way back it sees the final,
-- already transcoded response. A route whose methods succeed with 201 or 204 carries
-- them in its metadata (success = {POST = "201"}, from api_tables.SEMANTICS, by routes.py);
-- the request's method picks one, kept in the stream's dynamic metadata for the reply,
-- where it is applied only over a 200, so an error mapped by the transcoder is never
-- masked. The services know nothing of HTTP codes (sending them as initial metadata
-- cost a gRPC operation per call). A 204 must lose its "{}" body, or keep-alive
-- clients read it as the start of the next response.

-- A route whose RPC declares `response_body: "x"` carries metadata unwrap = "x": Envoy
-- 1.40 cannot do it, so the body {"x":<value>} becomes <value> here. routes.py only
-- allows this for messages with that one field, or that field (an array) followed by
-- next_page_token, which moves from the body to the x-next-page-token header (absent on
-- the last page). A base64url token never holds '"' or "]". The gateway does this, not
-- the service: initial metadata would cost the service a gRPC operation of its own.

local function unwrap(handle, field)
  local body = handle:body()
  if body == nil then
    return
  end
  local text = body:getBytes(0, body:length())
  local prefix = '{"' .. field .. '":'
  if text:sub(1, #prefix) == prefix and text:sub(-1) == "}" then
    local value = text:sub(#prefix + 1, -2)
    local array, token = value:match('^(%[.*%]),"next_page_token":"([^"%]]*)"$')
    body:setBytes(array or value)
    if token ~= nil and token ~= "" then
      -- Fetch the headers after body(): a handle taken before it stops applying changes.
      handle:headers():replace("x-next-page-token", token)
    end
  end
end

-- On the way in: what a REST client sends must not break the gRPC call behind it.
--
-- The transcoder forwards every request header as gRPC metadata, and grpc refuses a call
-- whose metadata it cannot parse with INTERNAL (a 500): a name with a character HTTP
-- allows but gRPC does not (`k+`), a `-bin` value that is not base64, a malformed
-- `grpc-timeout`. Such headers mean nothing to a REST route, so they are dropped
-- (unknown headers are ignored, as any HTTP server does); `grpc-*` names are gRPC's own.
-- A method the path does not offer answers 405 with `Allow` (routes.py puts the path's
-- methods in the route metadata); without this the transcoder would answer 404.

local function drop_unsafe_headers(headers)
  local unsafe = {}
  for name, _ in pairs(headers) do
    if name:sub(1, 1) ~= ":" and (
      name:find("[^0-9a-z_.-]") ~= nil
      or name:sub(-4) == "-bin"
      or name:sub(1, 5) == "grpc-"
    ) then
      unsafe[#unsafe + 1] = name
    end
  end
  for _, name in ipairs(unsafe) do
    headers:remove(name)
  end
end

local SUCCESS = "success"  -- key of the chosen code in this filter's dynamic metadata

function envoy_on_request(handle)
  local headers = handle:headers()
  local success = handle:metadata():get("success")
  if success ~= nil then
    local wanted = success[headers:get(":method") or ""]
    if wanted ~= nil then
      handle:streamInfo():dynamicMetadata():set("envoy.filters.http.lua", SUCCESS, wanted)
    end
  end
  local allow = handle:metadata():get("allow")
  if allow ~= nil then
    local method = headers:get(":method") or ""
    if (", " .. allow .. ","):find(", " .. method .. ",", 1, true) == nil then
      handle:respond(
        { [":status"] = "405", ["allow"] = allow },
        "Method not allowed" -- the local reply mapper makes it a google.rpc.Status
      )
      return
    end
  end
  drop_unsafe_headers(headers)
end

-- A draining service cancels the calls it accepted but never ran (gRPC CANCELLED), after
-- the route's retries; the transcoder answers that as 499, "client closed request". The
-- client closed nothing: the service is going away, so it gets the documented 503, and a
-- write may be retried (a cancelled call never ran).
local UNAVAILABLE_BODY =
  '{"code":14,"message":"The service is restarting, try again later","details":[]}'

local function cancelled_as_unavailable(handle)
  local body = handle:body()
  if body ~= nil then
    body:setBytes(UNAVAILABLE_BODY)
  end
  -- Fetch the headers again: a handle taken before body() stops applying changes.
  handle:headers():replace(":status", "503")
  handle:headers():replace("content-type", "application/json")
end

function envoy_on_response(handle)
  local field = handle:metadata():get("unwrap")
  if field ~= nil and handle:headers():get(":status") == "200" then
    unwrap(handle, field)
  end
  local chosen = handle:streamInfo():dynamicMetadata():get("envoy.filters.http.lua")
  local wanted = chosen and chosen[SUCCESS]
  if wanted ~= nil then
    if handle:headers():get(":status") == "200" and (wanted == "201" or wanted == "204") then
      handle:headers():replace(":status", wanted)
      if wanted == "204" then
        local body = handle:body()
        if body ~= nil then
          body:setBytes("")
        end
        -- Fetch the headers again: a handle taken before body() stops applying changes.
        handle:headers():remove("content-type")
      end
    end
  end
  if handle:headers():get(":status") == "499" then
    cancelled_as_unavailable(handle)
  end
  if handle:headers():get(":status") == "401" then
    handle:headers():replace("www-authenticate", "Bearer")
  end
  -- gRPC details the transcoder leaves on REST replies mean nothing to a REST client;
  -- a gRPC reply (e.g. Envoy's UNIMPLEMENTED for an unrouted gRPC call) keeps them.
  local content_type = handle:headers():get("content-type") or ""
  if content_type:find("application/grpc", 1, true) ~= 1 then
    handle:headers():remove("grpc-status")
    handle:headers():remove("grpc-message")
    handle:headers():remove("grpc-accept-encoding")
  end
end
