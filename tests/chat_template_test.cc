// Chat formats against the expected prompts of llama.cpp's tests/test-chat-template.cpp (its
// non-Jinja outputs, less BOS) for the same conversation, and detection from real templates.
#include "tmac/chat_template.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "expect_error.h"

namespace tmac {
namespace {

using testing::ExpectError;

// llama.cpp's test conversation.
const std::vector<ChatMessage> kConversation = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};

struct Case {
  const char* name;
  const char* template_text;  // a real template of the family, as in llama.cpp's test
  ChatFormat format;
  const char* expected;
};

const Case kCases[] = {
    {"chatml",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
     "'<|im_end|>' + "
     "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
     ChatFormat::kChatMl,
     "<|im_start|>system\nYou are a helpful "
     "assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>"
     "assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am "
     "an "
     "assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n"},
    {"llama2",
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
     "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + "
     "eos_token}}{% endif %}{% endfor %}",
     ChatFormat::kLlama2,
     "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an "
     "assistant   "
     "</s>[INST] Another question [/INST]"},
    {"llama2-sys-bos",
     "{%- for idx in range(0, messages|length) -%}\n{%- if messages[idx]['role'] == 'user' -%}\n{%- if idx > "
     "1 "
     "-%}\n{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}\n{%- else -%}\n{{- "
     "messages[idx]['content'] + ' [/INST]' -}}\n{%- endif -%}\n{% elif messages[idx]['role'] == 'system' "
     "%}\n{{- "
     "'[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}\n{% endif %}\n{% endfor %}",
     ChatFormat::kLlama2SysBos,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are "
     "you "
     "[/INST]   I am an assistant   </s><s>[INST] Another question [/INST]"},
    {"llama2-sys-strip",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>' %}{% endif "
     "%}{% for "
     "message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + content.strip() + ' [/INST]' "
     "}}{% "
     "endif %}{% endfor %}",
     ChatFormat::kLlama2SysStrip,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you "
     "[/INST]I am an assistant</s>[INST] Another question [/INST]"},
    {"llama3",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
     "'<|start_header_id|>' + "
     "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if "
     "loop.index0 == 0 "
     "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ "
     "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}",
     ChatFormat::kLlama3,
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful "
     "assistant<|eot_id|><|start_header_id|>user<|"
     "end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi "
     "there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are "
     "you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an "
     "assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother "
     "question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ChatTemplates : public ::testing::TestWithParam<Case> {};

TEST_P(ChatTemplates, DetectsTheFormat) {
  EXPECT_EQ(DetectChatFormat(GetParam().template_text), GetParam().format);
  EXPECT_EQ(DetectChatFormat(GetParam().name), GetParam().format);  // a name forces the format
  EXPECT_EQ(ChatFormatFromName(GetParam().name), GetParam().format);
  EXPECT_EQ(ChatFormatName(GetParam().format), GetParam().name);
}

TEST_P(ChatTemplates, WritesLlamaCppsPrompt) {
  EXPECT_EQ(FormatChat(GetParam().format, kConversation, /*add_generation_prompt=*/true),
            GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Formats, ChatTemplates, ::testing::ValuesIn(kCases), [](const auto& info) {
  std::string name = info.param.name;
  for (char& c : name) c = c == '-' ? '_' : c;
  return name;
});

TEST(ChatTemplate, SmolLM2TemplateIsChatMl) {
  // The start of SmolLM2-135M-Instruct's tokenizer.chat_template.
  EXPECT_EQ(
      DetectChatFormat("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' "
                       "%}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                       "Hugging Face<|im_end|>\n' }}{% endif %}"),
      ChatFormat::kChatMl);
}

TEST(ChatTemplate, GenerationPromptIsOptional) {
  const std::vector<ChatMessage> one = {{"user", "Hi"}};
  EXPECT_EQ(FormatChat(ChatFormat::kChatMl, one, false), "<|im_start|>user\nHi<|im_end|>\n");
  EXPECT_EQ(FormatChat(ChatFormat::kLlama3, one, false),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  EXPECT_EQ(FormatChat(ChatFormat::kLlama2Sys, one, false), "[INST] Hi [/INST]");
}

TEST(ChatTemplate, NamesFormatsItDoesNotWrite) {
  ExpectError([] { DetectChatFormat("{{ '<start_of_turn>user\\n' }}"); }, "'gemma' format");
  ExpectError([] { DetectChatFormat("<|im_start|>{{ role }}<|im_sep|>"); }, "'phi4' format");
  ExpectError([] { DetectChatFormat("[SYSTEM_PROMPT] [INST]"); }, "'mistral-v7' format");
  ExpectError([] { DetectChatFormat("{{ messages }}"); }, "unrecognised chat template");
  ExpectError([] { ChatFormatFromName("vicuna"); }, "unknown chat format 'vicuna' (known: chatml, llama2");
}

}  // namespace
}  // namespace tmac
