// Payloads cross the duroxide interface as JSON text (what Python's json module reads and
// writes). This is the small codec the Kotlin layer needs for that, with no dependency:
// values are null, Boolean, Number (Long or Double when parsed), String, List<Any?> and
// Map<String, Any?>.
package duroxide

object Json {
    /** The JSON text of [value]; IllegalArgumentException for anything else. */
    fun encode(value: Any?): String = StringBuilder().also { write(it, value) }.toString()

    /** The value of JSON text [text]; IllegalArgumentException when it is not JSON. */
    fun decode(text: String): Any? {
        val parser = Parser(text)
        val value = parser.value()
        parser.skipSpace()
        require(parser.pos == text.length) { "trailing characters after JSON at ${parser.pos}" }
        return value
    }

    /** [text] as a JSON string literal. */
    fun quote(text: String): String = StringBuilder().also { writeString(it, text) }.toString()

    private fun write(out: StringBuilder, value: Any?) {
        when (value) {
            null -> out.append("null")
            is Boolean -> out.append(value)
            is Double, is Float -> {
                val d = (value as Number).toDouble()
                require(d.isFinite()) { "JSON has no $d" }
                out.append(if (d == Math.floor(d) && Math.abs(d) < 1e15) d.toLong().toString() + ".0" else d.toString())
            }
            is Number -> out.append(value.toString())
            is String -> writeString(out, value)
            is Map<*, *> -> {
                out.append('{')
                var first = true
                for ((k, v) in value) {
                    require(k is String) { "JSON object keys are strings, got ${k?.javaClass?.name}" }
                    if (!first) out.append(", ")
                    first = false
                    writeString(out, k)
                    out.append(": ")
                    write(out, v)
                }
                out.append('}')
            }
            is Iterable<*> -> {
                out.append('[')
                var first = true
                for (v in value) {
                    if (!first) out.append(", ")
                    first = false
                    write(out, v)
                }
                out.append(']')
            }
            else -> throw IllegalArgumentException("cannot encode ${value.javaClass.name} as JSON")
        }
    }

    private fun writeString(out: StringBuilder, s: String) {
        out.append('"')
        for (c in s) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                else -> if (c < ' ') out.append(String.format("\\u%04x", c.code)) else out.append(c)
            }
        }
        out.append('"')
    }

    private class Parser(val s: String) {
        var pos = 0

        fun skipSpace() {
            while (pos < s.length && s[pos] in " \t\r\n") pos++
        }

        fun value(): Any? {
            skipSpace()
            require(pos < s.length) { "unexpected end of JSON" }
            return when (val c = s[pos]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> word("true", true)
                'f' -> word("false", false)
                'n' -> word("null", null)
                else -> if (c == '-' || c.isDigit()) number() else throw IllegalArgumentException("unexpected '$c' at $pos")
            }
        }

        private fun word(w: String, v: Any?): Any? {
            require(s.startsWith(w, pos)) { "unexpected token at $pos" }
            pos += w.length
            return v
        }

        private fun number(): Number {
            val start = pos
            if (s[pos] == '-') pos++
            while (pos < s.length && (s[pos].isDigit() || s[pos] in ".eE+-")) pos++
            val text = s.substring(start, pos)
            return if (text.any { it in ".eE" }) text.toDouble() else text.toLongOrNull() ?: text.toDouble()
        }

        private fun string(): String {
            pos++ // the opening quote
            val out = StringBuilder()
            while (true) {
                require(pos < s.length) { "unterminated JSON string" }
                val c = s[pos++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        val e = s[pos++]
                        when (e) {
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'u' -> {
                                out.append(s.substring(pos, pos + 4).toInt(16).toChar())
                                pos += 4
                            }
                            else -> out.append(e) // \" \\ \/
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        private fun array(): List<Any?> {
            pos++
            val out = ArrayList<Any?>()
            skipSpace()
            if (s.getOrNull(pos) == ']') { pos++; return out }
            while (true) {
                out.add(value())
                skipSpace()
                when (s.getOrNull(pos++)) {
                    ',' -> continue
                    ']' -> return out
                    else -> throw IllegalArgumentException("expected ',' or ']' at ${pos - 1}")
                }
            }
        }

        private fun obj(): Map<String, Any?> {
            pos++
            val out = LinkedHashMap<String, Any?>()
            skipSpace()
            if (s.getOrNull(pos) == '}') { pos++; return out }
            while (true) {
                skipSpace()
                require(s.getOrNull(pos) == '"') { "expected a key at $pos" }
                val key = string()
                skipSpace()
                require(s.getOrNull(pos++) == ':') { "expected ':' at ${pos - 1}" }
                out[key] = value()
                skipSpace()
                when (s.getOrNull(pos++)) {
                    ',' -> continue
                    '}' -> return out
                    else -> throw IllegalArgumentException("expected ',' or '}' at ${pos - 1}")
                }
            }
        }
    }
}
