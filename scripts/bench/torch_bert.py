"""BERT for sequence classification written by hand in PyTorch, in Hugging Face's parameter layout
(`BertForSequenceClassification`: `bert.embeddings.word_embeddings.weight`, ..., `bert.pooler.dense.weight`,
`classifier.weight`), for the fixture generator (scripts/fixtures/bert_reference.py) and the benchmark
(scripts/bench/bert_step_torch.py). Debian has no `transformers`; this follows its modeling_bert.py:
word + position + token-type embeddings, LayerNorm (eps 1e-12), post-LayerNorm blocks, erf GELU, the additive
padding mask `(1 - mask) * finfo(float32).min`, the pooler (tanh dense on the first position), dropout and a
linear classifier. `inputs_embeds` replaces the word embeddings (prompt tuning).
"""
import math

import torch
import torch.nn as nn

BERT_BASE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
             "num_labels": 2}


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=0)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, input_ids=None, token_type_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        b, t = inputs_embeds.shape[:2]
        if token_type_ids is None:
            token_type_ids = torch.zeros(b, t, dtype=torch.long)
        x = inputs_embeds + self.token_type_embeddings(token_type_ids) + self.position_embeddings(torch.arange(t))
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["hidden_size"]
        self.h = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(e, e), nn.Linear(e, e), nn.Linear(e, e)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, mask):
        b, t, e = x.shape
        d = e // self.h
        heads = lambda y: y.view(b, t, self.h, d).transpose(1, 2)  # noqa: E731
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + mask
        weights = self.dropout(torch.softmax(scores, dim=-1))
        return (weights @ v).transpose(1, 2).reshape(b, t, e)


class BertSelfOutput(nn.Module):
    def __init__(self, c, inner):
        super().__init__()
        self.dense = nn.Linear(inner, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c["hidden_size"])

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return nn.functional.gelu(self.dense(x))  # erf GELU


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c["intermediate_size"])  # BertOutput: the same dense + dropout + LayerNorm

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None):
        x = self.embeddings(input_ids, token_type_ids, inputs_embeds)
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2])
        mask = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        return self.pooler(self.encoder(x, mask))


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.classifier = nn.Linear(c["hidden_size"], c["num_labels"])

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None):
        return self.classifier(self.dropout(self.bert(input_ids, attention_mask, token_type_ids, inputs_embeds)))


def random_bert(c, seed, scale=1.0):
    """A BERT with non-trivial random values everywhere (LayerNorms and biases included)."""
    torch.manual_seed(seed)
    m = BertForSequenceClassification(c)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            elif name == "classifier.weight":
                p.copy_(0.5 * torch.randn_like(p))  # logits of some size: the losses move visibly
            else:
                p.copy_(scale * (0.2 if "embeddings" in name else 0.1) * torch.randn_like(p))
    return m.eval()


def attention_mask_of(ids, pad_id=0):
    """Hugging Face's attention mask of right-padded ids: 1 for tokens, 0 for [PAD]."""
    return (ids != pad_id).long()
