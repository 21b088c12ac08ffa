#include "config/inputs_config.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jenky {
namespace {

constexpr size_t kMaxInputValue = 4096;
constexpr size_t kMaxInputs = 64;

bool IsInputName(std::string_view s) {
  if (s.empty() || s.size() > 64 ||
      !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// What is wrong with VALUE for a string or choice input, "" if nothing.
std::string TextProblem(const InputConfig& in, const std::string& value) {
  if (value.size() > kMaxInputValue) return fmt::format("is longer than {} bytes", kMaxInputValue);
  for (unsigned char c : value) {
    if (c < 0x20 && c != '\t' && c != '\n') return "has a control character";
  }
  if (in.type == InputConfig::Type::kChoice &&
      std::find(in.choices.begin(), in.choices.end(), value) == in.choices.end()) {
    return fmt::format("must be one of {}, not '{}'", Join(in.choices), value);
  }
  return "";
}

void LoadInput(Loader& L, const toml::table& t, const std::string& where, InputConfig& in) {
  L.CheckKeys(t, "[" + where + "]", {"type", "default", "choices", "description"});
  if (auto type = L.String(t, "type", where)) {
    if (*type == "string") in.type = InputConfig::Type::kString;
    else if (*type == "choice") in.type = InputConfig::Type::kChoice;
    else if (*type == "bool") in.type = InputConfig::Type::kBool;
    else
      L.Error(*t.get("type"),
              fmt::format("{}.type '{}' is not one of string, choice, bool", where, *type));
  }
  if (auto d = L.String(t, "description", where)) in.description = *d;
  if (auto c = L.Strings(t, "choices", where)) in.choices = *c;
  const toml::node* def = t.get("default");
  if (in.type == InputConfig::Type::kBool) {
    if (auto b = L.Bool(t, "default", where)) in.default_value = *b ? "true" : "false";
    else if (!def) in.default_value = "false";
  } else if (auto d = L.String(t, "default", where)) {
    in.default_value = *d;
  }
  if (in.type == InputConfig::Type::kChoice) {
    if (in.choices.empty()) {
      L.Error(t, fmt::format("{} is a choice: give its choices = [\"a\", \"b\"]", where));
    } else if (!def) {
      in.default_value = in.choices.front();
    }
  } else if (t.get("choices")) {
    L.Error(*t.get("choices"), fmt::format("{}.choices is only for type = \"choice\"", where));
  }
  if (def && in.type != InputConfig::Type::kBool) {
    if (std::string why = TextProblem(in, in.default_value); !why.empty()) {
      L.Error(*def, fmt::format("{}.default {}", where, why));
    }
  }
}

}  // namespace

std::string InputEnvName(const std::string& input) {
  std::string out = "JENKY_INPUT_";
  for (char c : input)
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

void LoadInputs(Loader& L, const toml::table& t, const std::string& where, ProjectConfig& p) {
  if (t.size() > kMaxInputs) {
    L.Error(t, fmt::format("{} declares {} inputs; at most {}", where, t.size(), kMaxInputs));
  }
  for (const auto& [key, node] : t) {
    std::string name(key.str());
    std::string at = where + "." + name;
    if (!IsInputName(name)) {
      L.Error(node, fmt::format("input name '{}' must be letters, digits, '_' or '-' (starting "
                                "with a letter or '_'), at most 64",
                                name));
      continue;
    }
    const toml::table* it = node.as_table();
    if (!it) {
      L.Error(node,
              fmt::format("{} must be a table like {{ type = \"string\", default = \"\" }}", at));
      continue;
    }
    InputConfig in;
    in.name = name;
    LoadInput(L, *it, at, in);
    p.inputs.push_back(std::move(in));
  }
}

std::string ResolvedInputs::Message() const {
  std::string out;
  for (const auto& [name, why] : errors) {
    out +=
        (out.empty() ? "" : "; ") + (name.empty() ? why : fmt::format("input '{}' {}", name, why));
  }
  return out;
}

ResolvedInputs ResolveInputs(const ProjectConfig& p, const nlohmann::json& given) {
  ResolvedInputs r;
  if (!given.is_null() && !given.is_object()) {
    r.errors[""] =
        "inputs must be a JSON object of input names to values, like {\"level\": \"debug\"}";
    return r;
  }
  if (given.is_object()) {
    for (const auto& [name, value] : given.items()) {
      auto it = std::find_if(p.inputs.begin(), p.inputs.end(),
                             [&key = name](const InputConfig& in) { return in.name == key; });
      if (it != p.inputs.end()) continue;
      std::vector<std::string> names;
      for (const InputConfig& in : p.inputs) names.push_back(in.name);
      r.errors[name] =
          names.empty() ? fmt::format("is not declared: project '{}' has no inputs", p.name)
                        : fmt::format("is not declared; project '{}' has {}", p.name, Join(names));
    }
  }
  for (const InputConfig& in : p.inputs) {
    std::string value = in.default_value;
    if (given.is_object() && given.contains(in.name)) {
      const nlohmann::json& v = given[in.name];
      if (in.type == InputConfig::Type::kBool) {
        if (v.is_boolean()) value = v.get<bool>() ? "true" : "false";
        else if (v.is_string() && (v == "true" || v == "false")) value = v.get<std::string>();
        else {
          r.errors[in.name] = "must be true or false";
          continue;
        }
      } else if (!v.is_string()) {
        r.errors[in.name] = "must be a string";
        continue;
      } else {
        value = v.get<std::string>();
        if (std::string why = TextProblem(in, value); !why.empty()) {
          r.errors[in.name] = why;
          continue;
        }
      }
    }
    r.values.emplace_back(in.name, value);
  }
  return r;
}

}  // namespace jenky
