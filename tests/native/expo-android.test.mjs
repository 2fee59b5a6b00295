// @clerk/expo in Android mode (see expo-suite.mjs).
import { expoSuite } from './expo-suite.mjs'

expoSuite('android')
