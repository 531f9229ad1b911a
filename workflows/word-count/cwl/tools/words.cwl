cwlVersion: v1.2
class: CommandLineTool
label: the words of a text, one per line
baseCommand: grep
arguments: [-o, -E, "[[:alpha:]']+"]
inputs:
  text:
    type: File
    inputBinding: { position: 1 }
outputs:
  words: stdout
stdout: words.txt
# grep exits 1 when a text has no word at all: that is an empty list, not a failure.
successCodes: [0, 1]
