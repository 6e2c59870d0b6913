-- uid-gate's decision as an Envoy Lua filter, after jwt_authn (which checks the signature and
-- exp/nbf/iss/aud and leaves the payload in dynamic metadata). The rules are a port of
-- crates/uid-gate-core (extract.rs, verify/, path_policy/, decision.rs); the configuration
-- above this line is generated from the same variables uid-gate reads, and the deny
-- responses are rendered by uid-gate's own response code. The conformance table runs
-- through this file in real Envoy (tests/it/conformance/proxies.rs, host envoy_inline).
--
-- The allow path never depends on a pattern match over JSON: it reads the payload and header
-- that jwt_authn parsed. Only the reason named in a 401 for a token jwt_authn refused is
-- found by looking at the token's header here.

-- Each request allocates a few strings and the metadata tables; a lazier collector (it waits
-- until the heap has grown tenfold, a few MB per worker at most) measured about 8 µs less
-- Envoy CPU per request (bench/inline-parts.sh, BENCHMARKS.md).
collectgarbage("setpause", 1000)

local byte, sub, find, lower, char, format = string.byte, string.sub, string.find, string.lower, string.char, string.format
local floor, time, tonumber, type, ipairs = math.floor, os.time, tonumber, type, ipairs

local function hexval(b)
  if b == nil then return nil end
  if b >= 48 and b <= 57 then return b - 48 end
  if b >= 97 and b <= 102 then return b - 87 end
  if b >= 65 and b <= 70 then return b - 55 end
  return nil
end

-- path_policy::check_bytes: every rule over the raw path, query already removed.
local function check_path(path)
  if byte(path, 1) ~= 47 then return "not_origin_form" end
  if not find(path, "[%%%c#\\;\128-\255]") then return nil end
  local i, n = 1, #path
  while i <= n do
    local b = byte(path, i)
    if b < 32 or b == 127 then return "control_byte"
    elseif b >= 128 then return "non_ascii"
    elseif b == 35 then return "fragment"
    elseif b == 92 then return "backslash"
    elseif b == 59 then return "path_parameter"
    elseif b == 37 then
      local h, l = hexval(byte(path, i + 1)), hexval(byte(path, i + 2))
      if not h or not l then return "bad_percent_encoding" end
      local d = h * 16 + l
      if d == 47 or d == 92 then return "encoded_separator" end
      if d == 46 then return "encoded_dot" end
      if d < 32 or d == 127 then return "control_byte" end
      i = i + 2
    end
    i = i + 1
  end
  return nil
end

-- path_policy::split_segments: one trailing "/" allowed, no other empty or dot segment.
local function split(path)
  local rest = sub(path, 2)
  if byte(rest, -1) == 47 then rest = sub(rest, 1, -2) end
  if rest == "" then
    if #path == 1 then return {} end
    return nil, "empty_segment"
  end
  local segs, k, start = {}, 0, 1
  while true do
    local j = find(rest, "/", start, true)
    local s = sub(rest, start, (j or 0) - 1)
    if s == "" then return nil, "empty_segment" end
    if s == "." or s == ".." then return nil, "dot_segment" end
    k = k + 1
    segs[k] = s
    if not j then return segs end
    start = j + 1
  end
end

local function unhex(h) return char(tonumber(h, 16)) end

-- Decodes %XX once (check_path already refused every malformed escape).
local function decode(s)
  if not find(s, "%", 1, true) then return s end
  return (s:gsub("%%(%x%x)", unhex))
end

-- A configured segment (lower-cased when IGNORE_CASE) against a raw request segment.
local function fixed_eq(fixed, seg)
  local d = decode(seg)
  if IGNORE_CASE then d = lower(d) end
  return d == fixed
end

-- path_policy::classify: "public", "auth", "scoped" + user id, "unlisted", or nil + a path
-- reason. PREFIXES holds the public prefixes, then the authenticated-only ones (core order).
local function classify_segments(path)
  local bad = check_path(path)
  if bad then return nil, bad end
  local segs, err = split(path)
  if not segs then return nil, err end
  local n = #segs
  for _, rule in ipairs(PREFIXES) do
    for _, p in ipairs(rule[2]) do
      if n >= #p then
        local all = true
        for i = 1, #p do
          if not fixed_eq(p[i], segs[i]) then all = false break end
        end
        if all then return rule[1] end
      end
    end
  end
  for _, t in ipairs(TEMPLATES) do
    local prefix, tsegs = t.prefix, t.segs
    local matches = n >= prefix
    if matches then
      for i = 1, prefix do
        if not fixed_eq(tsegs[i], segs[i]) then matches = false break end
      end
    end
    if matches then
      if n == prefix then return nil, "missing_user_segment" end
      if n >= #tsegs then
        local user
        for i = prefix + 1, #tsegs do
          if i == prefix + 1 then
            user = decode(segs[i])
          elseif not fixed_eq(tsegs[i], segs[i]) then
            user = nil
            break
          end
        end
        if user then return "scoped", user end
      end
    end
  end
  return "unlisted"
end

-- The same answers without splitting or decoding, for the paths most requests have: no byte
-- a rule looks at, no "//", no dot segment, and templates whose user id is the last segment
-- (FAST_TEMPLATES is false otherwise). Prefixes are compared as literal strings ending at a
-- segment boundary, which is what the segment-wise rules amount to for such paths.
local function classify(path)
  local q = find(path, "?", 1, true)
  if q then path = sub(path, 1, q - 1) end
  if not FAST_TEMPLATES or byte(path, 1) ~= 47 or find(path, "[%%%c#\\;\128-\255]")
    or find(path, "//", 1, true) or find(path, "/%.%.?/") or find(path, "/%.%.?$") then
    return classify_segments(path)
  end
  local p = IGNORE_CASE and lower(path) or path
  local n = #p
  for k = 1, #PREFIXES_LIT do
    local rule = PREFIXES_LIT[k]
    local lits = rule[2]
    for i = 1, #lits do
      local lit = lits[i]
      local l = #lit
      if sub(p, 1, l) == lit then
        local b = byte(p, l + 1)
        if b == nil or b == 47 then return rule[1] end
      end
    end
  end
  for i = 1, #FAST_TEMPLATES do
    local lit = FAST_TEMPLATES[i]
    local l = #lit
    if sub(p, 1, l) == lit then
      local b = byte(p, l + 1)
      if b == nil or (b == 47 and n == l + 1) then return nil, "missing_user_segment" end
      if b == 47 then
        local e = find(path, "/", l + 2, true)
        return "scoped", sub(path, l + 2, (e or 0) - 1)
      end
    end
  end
  return "unlisted"
end

-- Whether s is well-formed UTF-8 (Rust's str::from_utf8).
local function utf8_ok(s)
  local i, n = 1, #s
  while i <= n do
    local b = byte(s, i)
    local len, min
    if b < 128 then len = 1
    elseif b >= 194 and b <= 223 then len, min = 2, 128
    elseif b >= 224 and b <= 239 then len, min = 3, 2048
    elseif b >= 240 and b <= 244 then len, min = 4, 65536
    else return false end
    if len > 1 then
      if i + len - 1 > n then return false end
      local cp = b % (2 ^ (7 - len))
      for k = 1, len - 1 do
        local c = byte(s, i + k)
        if c < 128 or c > 191 then return false end
        cp = cp * 64 + (c - 128)
      end
      if cp < min or cp > 1114111 or (cp >= 55296 and cp <= 57343) then return false end
    end
    i = i + len
  end
  return true
end

-- The token after a case-insensitive "Bearer" and exactly one space, or nil.
local function scheme_token(v)
  local sp = find(v, " ", 1, true)
  if sp ~= 7 or lower(sub(v, 1, 6)) ~= "bearer" then return nil end
  return sub(v, 8)
end

-- Why a value has no "Bearer <token>" (extract.rs's order of cases).
local function scheme_why(v)
  local sp = find(v, " ", 1, true)
  if not sp then
    if lower(v) == "bearer" then return "empty_token" end
    if lower(sub(v, 1, 6)) == "bearer" then return "malformed_token" end
  end
  return "wrong_scheme"
end

-- extract::bearer_token: exactly one "Bearer <compact JWS>", or the reason there is none.
-- Envoy has already joined repeated headers with "," (which is refused below), as uid-gate
-- sees them through ext_authz.
local function bearer(headers)
  local v = headers:get("authorization")
  if v == nil then return nil, "missing_token" end
  if #v > MAX_TOKEN_BYTES + 7 then return nil, "token_too_large" end
  if find(v, ",", 1, true) then return nil, "multiple_credentials" end
  if find(v, "[\128-\255]") and not utf8_ok(v) then return nil, "malformed_token" end
  local token
  if sub(v, 1, 7) == "Bearer " then
    token = sub(v, 8)
  else
    token = scheme_token(v)
    if not token then return nil, scheme_why(v) end
  end
  if token == "" then return nil, "empty_token" end
  if #token > MAX_TOKEN_BYTES then return nil, "token_too_large" end
  if not find(token, "^[%w_%-]+%.[%w_%-]+%.[%w_%-]+$") then return nil, "malformed_token" end
  return token
end

local B64 = {}
do
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  for i = 1, 64 do B64[byte(alphabet, i)] = i - 1 end
end

-- Whether the signature's base64url is canonical: the unused low bits of its last character
-- are zero. jwt_authn decodes leniently and would accept a twin of a valid signature; the core
-- refuses it (conformance C29).
local function canonical_signature(token)
  local dot = find(token, ".", find(token, ".", 1, true) + 1, true)
  local r = (#token - dot) % 4
  if r == 0 then return true end
  if r == 1 then return false end
  local v = B64[byte(token, -1)]
  return v ~= nil and v % (r == 2 and 16 or 4) == 0
end

-- base64url without padding, as a JOSE header is encoded; nil when it is not.
local function b64url(s)
  local out, acc, bits = {}, 0, 0
  for i = 1, #s do
    local v = B64[byte(s, i)]
    if v == nil then return nil end
    acc = acc * 64 + v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      local p = 2 ^ bits
      out[#out + 1] = char(floor(acc / p))
      acc = acc % p
    end
  end
  if bits >= 6 or acc ~= 0 then return nil end
  return table.concat(out)
end

-- Why jwt_authn refused a well-shaped token, in uid-gate's terms. The header checks come
-- first, as in verify/header.rs; jwt_authn's own status message decides the rest.
local function refused(token, status)
  local header = b64url(sub(token, 1, find(token, ".", 1, true) - 1))
  if not header or not find(header, "^%s*{") then return "malformed_header" end
  local alg = header:match('"alg"%s*:%s*"([^"\\]*)"')
  if not alg then return "malformed_header" end
  local _, algs = header:gsub('"alg"%s*:', "")
  if algs > 1 then return "malformed_header" end
  if not ALGS[alg] then return "unsupported_alg" end
  if find(header, '"crit"%s*:') then return "crit_header" end
  for _, k in ipairs({ "jku", "jwk", "x5u", "x5c" }) do
    if find(header, '"' .. k .. '"%s*:') then return "external_key" end
  end
  local typ = header:match('"typ"%s*:%s*"([^"\\]*)"')
  if typ and lower(typ) ~= "jwt" then return "wrong_typ" end
  if alg ~= "HS256" then
    if not JWKS then return "unsupported_alg" end
    local kid = header:match('"kid"%s*:%s*"([^"\\]*)"')
    local pinned = kid and KIDS[kid]
    if pinned and pinned ~= alg then return "unsupported_alg" end
    if not pinned and KIDS_COMPLETE then return "unknown_kid" end
  end
  local message = type(status) == "table" and status.message or ""
  if find(message, "expired", 1, true) then return "expired" end
  if find(message, "not yet valid", 1, true) then return "not_yet_valid" end
  if find(message, "%[[ein][xba][pft]%] field") then return "bad_time_claim" end
  if find(message, "payload", 1, true) then return "malformed_claims" end
  if find(message, "header", 1, true) then return "malformed_header" end
  if find(message, "kid or alg", 1, true) and alg ~= "HS256" then return "unknown_kid" end
  return "bad_signature"
end

-- jwt_authn hands Lua the verified header and payload as protobuf Structs, in which a null
-- member reads as absent and every number is a double. The rules that depend on the
-- difference read the token's own JSON instead, decoded only where it matters.

-- Why a verified header has a parameter the core refuses even when it is null ("jwk": null),
-- or false. Cached per header segment: an issuer's tokens share a handful of headers.
local HEADER_VERDICT, header_verdicts = {}, 0
local function null_header_params(token)
  local seg = sub(token, 1, find(token, ".", 1, true) - 1)
  local verdict = HEADER_VERDICT[seg]
  if verdict ~= nil then return verdict end
  local json = b64url(seg) or ""
  verdict = false
  if find(json, '"crit"%s*:') then
    verdict = "crit_header"
  else
    for _, k in ipairs({ "jku", "jwk", "x5u", "x5c" }) do
      if find(json, '"' .. k .. '"%s*:') then verdict = "external_key" break end
    end
  end
  if header_verdicts >= 64 then HEADER_VERDICT, header_verdicts = {}, 0 end
  HEADER_VERDICT[seg], header_verdicts = verdict, header_verdicts + 1
  return verdict
end

-- The token's payload JSON (the second segment), or "".
local function payload_json(token)
  local a = find(token, ".", 1, true)
  local b = find(token, ".", a + 1, true)
  return b64url(sub(token, a + 1, b - 1)) or ""
end

-- A time claim as verify/claims.rs accepts it: a non-negative integer.
local function time_claim(v)
  return type(v) == "number" and v >= 0 and v == floor(v) and v < 18446744073709551616
end

-- The verified user id, or the reason there is none (verify/mod.rs check_claims).
local function identity(payload, header, token)
  local typ = header.typ
  if typ ~= nil and (type(typ) ~= "string" or lower(typ) ~= "jwt") then
    return nil, type(typ) == "string" and "wrong_typ" or "malformed_header"
  end
  if header.crit ~= nil then return nil, "crit_header" end
  if header.jku ~= nil or header.jwk ~= nil or header.x5u ~= nil or header.x5c ~= nil then
    return nil, "external_key"
  end
  local null_param = null_header_params(token)
  if null_param then return nil, null_param end
  -- jwt_authn would take any key of the right type for a token without a kid; uid-gate
  -- picks a JWKS key by kid only, and each kid is pinned to one algorithm.
  local alg = header.alg
  if alg ~= "HS256" then
    local kid = header.kid
    if type(kid) ~= "string" then return nil, "unknown_kid" end
    if KIDS_COMPLETE and KIDS[kid] ~= alg then
      return nil, KIDS[kid] and "unsupported_alg" or "unknown_kid"
    end
  end
  local exp, nbf, iat = payload.exp, payload.nbf, payload.iat
  if (exp ~= nil and not time_claim(exp)) or (nbf ~= nil and not time_claim(nbf))
    or (iat ~= nil and not time_claim(iat)) then
    return nil, "bad_time_claim"
  end
  local iss, aud = payload.iss, payload.aud
  if iss ~= nil and type(iss) ~= "string" then return nil, "malformed_claims" end
  if aud ~= nil and type(aud) ~= "string" then
    if type(aud) ~= "table" then return nil, "malformed_claims" end
    for _, a in ipairs(aud) do
      if type(a) ~= "string" then return nil, "malformed_claims" end
    end
  end
  if exp == nil then return nil, "missing_exp" end
  local now = time()
  if now >= exp + LEEWAY then return nil, "expired" end
  if MAX_TTL and exp > now + MAX_TTL + LEEWAY then return nil, "lifetime_too_long" end
  if nbf and now + LEEWAY < nbf then return nil, "not_yet_valid" end
  if iat and iat > now + LEEWAY then return nil, "issued_in_future" end
  if ISSUER and iss ~= ISSUER then return nil, "issuer_mismatch" end
  if AUDIENCES then
    local ok = false
    if type(aud) == "string" then
      ok = AUDIENCES[aud] == true
    elseif aud then
      for _, a in ipairs(aud) do
        if AUDIENCES[a] then ok = true break end
      end
    end
    if not ok then return nil, "audience_mismatch" end
  end
  local json
  for _, claim in ipairs(UID_CLAIMS) do
    local v = payload[claim]
    if v ~= nil then
      if type(v) == "string" then
        -- Unicode control characters: C0, DEL and C1 (U+0080-U+009F, UTF-8 C2 80-9F).
        if v == "" or find(v, "%c") or find(v, "\194[\128-\159]") then return nil, "invalid_user_id" end
        return v
      elseif type(v) == "number" and v == floor(v) and v > -9007199254740992 and v < 9007199254740992 then
        -- Only an integer literal is an integer: 1.0 and 1e0 are not (verify/claims.rs).
        json = json or payload_json(token)
        if not find(json, '"' .. claim .. '"%s*:%s*%-?%d+%s*[,}]') then return nil, "invalid_user_id" end
        return format("%.0f", v)
      end
      return nil, "invalid_user_id"
    end
    -- Absent in the Struct: truly absent, or null? A present null claim decides (401); the
    -- core never falls back to the next claim for it. A \u escape could spell the claim's
    -- name where a pattern cannot see it: then refuse rather than fall back.
    json = json or payload_json(token)
    if find(json, '"' .. claim .. '"%s*:%s*null') or find(json, "\\u", 1, true) then
      return nil, "invalid_user_id"
    end
  end
  return nil, "missing_user_id"
end

-- response::Client::of: a gRPC (or gRPC-Web) client reads a deny from grpc-status.
local function grpc_client(headers)
  local ct = lower(headers:get("content-type") or "")
  if sub(ct, 1, 16) ~= "application/grpc" then return false end
  local rest = sub(ct, 17)
  if sub(rest, 1, 4) == "-web" then rest = sub(rest, 5) end
  if sub(rest, 1, 5) == "-text" and sub(ct, 17, 20) == "-web" then rest = sub(rest, 6) end
  return rest == "" or find(rest, "^[+;]") ~= nil
end

local function deny(handle, reason)
  local d = DENY[reason]
  handle:streamInfo():dynamicMetadata():set("uid_gate", "reason", reason)
  if grpc_client(handle:headers()) then
    handle:respond(d[3], d[4])
  else
    handle:respond(d[1], d[2])
  end
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local class, user = classify(headers:get(":path") or "")
  if class == "public" then
    headers:remove("x-user-id")
    return
  end
  local token, why = bearer(headers)
  if not token then return deny(handle, why) end
  local meta = handle:streamInfo():dynamicMetadata():get(METADATA)
  local payload = meta and meta[PAYLOAD_KEY]
  if payload == nil then
    return deny(handle, refused(token, meta and meta[FAILED_KEY]))
  end
  if not canonical_signature(token) then return deny(handle, "bad_signature") end
  local uid
  uid, why = identity(payload, meta[HEADER_KEY] or {}, token)
  if not uid then return deny(handle, why) end
  if class == nil then return deny(handle, user) end
  if class == "scoped" and user ~= uid then return deny(handle, "not_owner") end
  if class == "unlisted" and not UNLISTED_AUTHENTICATED then return deny(handle, "unlisted_path") end
  -- response::is_header_safe: the id must reach the app byte for byte.
  if find(uid, "^[ \t]") or find(uid, "[ \t]$") then return deny(handle, "unsendable_user_id") end
  -- replace() drops every client-sent x-user-id (tests/it/envoy_config.rs sends two).
  headers:replace("x-user-id", uid)
end
