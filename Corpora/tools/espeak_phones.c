/* Synthesises one sentence with espeak-ng and reports when each phone starts.
 *
 * Usage: espeak_phones VOICE RATE PITCH RANGE OUT.raw < text
 * Writes 16-bit little-endian mono samples to OUT.raw; prints the sample rate on the first line, then one line per
 * phoneme event: "<phoneme mnemonic>\t<start in ms>". Phone end = next phone's start (the last ends with the audio).
 */
#include <espeak-ng/speak_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *out;

static int on_synth(short *wav, int count, espeak_EVENT *events) {
    if (wav && count > 0) fwrite(wav, sizeof(short), (size_t)count, out);
    for (; events->type != espeakEVENT_LIST_TERMINATED; events++) {
        if (events->type == espeakEVENT_PHONEME) {
            char name[9] = {0};
            memcpy(name, events->id.string, 8);
            printf("%s\t%d\n", name, events->audio_position);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s VOICE RATE PITCH RANGE OUT.raw < text\n", argv[0]);
        return 2;
    }
    char text[4096];
    size_t length = fread(text, 1, sizeof(text) - 1, stdin);
    text[length] = 0;
    int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_PHONEME_EVENTS);
    if (rate <= 0) { fprintf(stderr, "espeak_Initialize failed\n"); return 1; }
    if (espeak_SetVoiceByName(argv[1]) != EE_OK) { fprintf(stderr, "unknown voice %s\n", argv[1]); return 1; }
    espeak_SetParameter(espeakRATE, atoi(argv[2]), 0);
    espeak_SetParameter(espeakPITCH, atoi(argv[3]), 0);
    espeak_SetParameter(espeakRANGE, atoi(argv[4]), 0);
    espeak_SetParameter(espeakVOLUME, 60, 0); /* the default (100) clips some high-pitched variants */
    out = fopen(argv[5], "wb");
    if (!out) { fprintf(stderr, "cannot write %s\n", argv[5]); return 1; }
    printf("%d\n", rate);
    espeak_SetSynthCallback(on_synth);
    if (espeak_Synth(text, length + 1, 0, POS_CHARACTER, 0, espeakCHARS_AUTO, NULL, NULL) != EE_OK) {
        fprintf(stderr, "espeak_Synth failed\n");
        return 1;
    }
    espeak_Synchronize();
    fclose(out);
    espeak_Terminate();
    return 0;
}
